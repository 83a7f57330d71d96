// Runners accept only the server: each replica's runner requires a secret the worker hands it in its
// environment (never argv) and the proxy sends; runners bind loopback; an inference key's model list
// shows no replica address, an admin key's does.
import { readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneWorkerCluster, TEMPLATE, type Body, type OneWorkerCluster } from './one_worker_cluster.ts';
import { STORIES, waitFor } from './platform_helpers.ts';

const ADMIN = 'runner-access-admin-key-0123456789';
let cluster: OneWorkerCluster;
let appKey: string;
let runnerUrl: string;

const chatBody = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Once upon a time' }], max_tokens: 4 };

async function direct(path: string, key?: string): Promise<{ status: number; json: Body }> {
  const res = await fetch(`${runnerUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(chatBody),
  });
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  cluster = await startOneWorkerCluster('runneraccess', { adminKey: ADMIN });
  const reg = await cluster.api('POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE }, ADMIN);
  expect(reg.status).toBe(200);
  const launch = await cluster.api('POST', '/v1/models', { model_name: 'stories', model_uid: 'tiny', gpu_memory_utilization: 0.3, max_model_len: 256 }, ADMIN);
  expect(launch.status, JSON.stringify(launch.json)).toBe(200);
  await waitFor('tiny to be ready', async () => (await cluster.api('GET', '/v1/models/tiny/progress', undefined, ADMIN)).json.status === 'ready', 60_000, 100);
  const made = await cluster.api('POST', '/api/keys', { name: 'app', scope: 'inference' }, ADMIN);
  appKey = made.json.key;
}, 120_000);
afterAll(() => cluster?.close());

describe('runner access', () => {
  it('shows replica addresses to admin keys only', async () => {
    const admin = await cluster.api('GET', '/v1/models', undefined, ADMIN);
    const address = admin.json.data[0].replicas[0].address as string;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(admin.json.data[0].replicas[0].worker).toBe('w1');
    runnerUrl = `http://${address}`;

    const listed = await new OpenAI({ baseURL: `${cluster.server.url}/v1`, apiKey: appKey, maxRetries: 0 }).models.list();
    expect(listed.data.map((m) => m.id)).toEqual(['tiny']);
    const raw = await cluster.api('GET', '/v1/models', undefined, appKey);
    expect(raw.json.data[0].replicas).toHaveLength(1);
    expect(raw.json.data[0].replicas[0]).toMatchObject({ address: null, worker: null, last_error: null, status: 'ready' });
    expect(JSON.stringify(raw.json)).not.toContain(address);
    // A failed replica's last error is runner output (paths, stack lines): admin keys only.
    const p = cluster.server.platform.db.prisma;
    await p.replica.updateMany({ data: { lastError: 'Error: boom\n    at load (/srv/pagoda/packages/engine/src/engine.ts:42:7)' } });
    await p.modelInstance.updateMany({ data: { lastError: 'replica 0: Error: boom at /srv/pagoda/x.ts:1' } });
    try {
      const seen = await cluster.api('GET', '/v1/models?all=1', undefined, appKey);
      expect(seen.json.data[0].last_error).toBeNull();
      expect(seen.json.data[0].replicas[0].last_error).toBeNull();
      // (The worker's next heartbeat rewrites the replica's own; the model's stays.)
      expect((await cluster.api('GET', '/v1/models?all=1', undefined, ADMIN)).json.data[0].last_error).toMatch(/boom/);
    } finally {
      await p.replica.updateMany({ data: { lastError: null } });
      await p.modelInstance.updateMany({ data: { lastError: null } });
    }
  });

  it('refuses requests sent straight to a runner without its secret', async () => {
    for (const key of [undefined, appKey, ADMIN, 'rs-guessed']) {
      for (const path of ['/v1/chat/completions', '/v1/completions', '/tokenize']) {
        const res = await direct(path, key);
        expect(res.status, `${path} with ${key ?? 'no key'}`).toBe(401);
        expect(res.json.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
      }
    }
    // The proxy holds the secret: the same key works through the server.
    const chat = await new OpenAI({ baseURL: `${cluster.server.url}/v1`, apiKey: appKey, maxRetries: 0 }).chat.completions.create(chatBody);
    expect(chat.choices[0]!.message.content!.length).toBeGreaterThan(0);
    // And the secret is what the runner takes.
    const row = await cluster.server.platform.db.prisma.replica.findFirstOrThrow();
    expect(row.runnerSecret).toMatch(/^rs-[A-Za-z0-9_-]{40,}$/);
    expect((await direct('/v1/chat/completions', row.runnerSecret!)).status).toBe(200);
  });

  it('hands the secret through the environment, never a command line', async () => {
    const { runnerSecret } = await cluster.server.platform.db.prisma.replica.findFirstOrThrow();
    let seen = 0;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let cmdline: string;
      try {
        cmdline = readFileSync(join('/proc', pid, 'cmdline'), 'utf8');
      } catch {
        continue; // gone, or not ours to read
      }
      if (cmdline.includes('--served-model-name\0tiny')) seen++;
      expect(cmdline.includes(runnerSecret!), `process ${pid}`).toBe(false);
    }
    expect(seen).toBeGreaterThan(0);
  });

  it('binds runners to loopback', async () => {
    const port = Number(new URL(runnerUrl).port);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!external) return; // no other interface to be reached on
    const reached = await fetch(`http://${external}:${port}/health`, { signal: AbortSignal.timeout(2_000) }).then(
      () => true,
      () => false,
    );
    expect(reached).toBe(false);
  });
});
