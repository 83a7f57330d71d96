// The platform end to end with real processes: a server (SQLite), two `pagoda worker` processes with
// declared GPUs (runners on the CPU engine with stories260k), a private Redis. Register, launch,
// progress, chat through the proxy with the official openai client, scale over both workers, kill a
// runner, kill a worker, restart the server, restart Redis mid-stream, terminate. The steps share
// one launched model, so they run in order.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/index.ts';
import { GiB, PrivateRedis, startWorkerProcess, STORIES, waitFor, type WorkerProcess } from './platform_helpers.ts';

const TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
const prefix = `pt${Date.now().toString(36)}`;
let redis: PrivateRedis;
let server: RunningServer;
let dataDir: string;
const workers = new Map<string, WorkerProcess>();

async function boot(): Promise<RunningServer> {
  return startServer({
    port: 0,
    dataDir,
    databaseUrl: `file:${join(dataDir, 'pagoda.db')}`,
    redisUrl: redis.url,
    redisPrefix: prefix,
    logLevel: 'silent',
    reconcileMs: 250,
    workerLostMs: 3_000,
    workerRemoveMs: 8_000,
    resendAfterMs: 2_000,
  });
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const client = () => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });

async function chat(): Promise<string> {
  const out = await client().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 12 });
  return out.choices[0]!.message.content ?? '';
}

async function readyReplicas(): Promise<any[]> {
  const { json } = await api('GET', '/v1/models/tiny/replicas');
  return (json?.replicas ?? []).filter((r: any) => r.status === 'ready');
}

beforeAll(async () => {
  redis = await PrivateRedis.create();
  dataDir = mkdtempSync(join(tmpdir(), 'pagoda-platform-'));
  server = await boot();
  for (const name of ['wa', 'wb']) workers.set(name, startWorkerProcess({ server: server.url, redis: redis.url, name, prefix, devices: [{ name: 'declared', memory_total: 8 * GiB }] }));
});

afterAll(async () => {
  await Promise.all([...workers.values()].map((w) => w.kill('SIGTERM')));
  await server?.close();
  await redis?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the platform with two workers', () => {
  it('registers both workers with their devices', async () => {
    const list = await waitFor('two workers', async () => {
      const { json } = await api('GET', '/v1/workers');
      return json.length === 2 && json.every((w: any) => w.status === 'alive') ? json : null;
    }, 30_000);
    expect(list.map((w: any) => w.worker).sort()).toEqual(['wa', 'wb']);
    const { json: devices } = await api('GET', '/v1/cluster/devices');
    expect(devices.filter((d: any) => d.kind === 'gpu')).toHaveLength(2);
    expect(devices.filter((d: any) => d.kind === 'cpu')).toHaveLength(2);
  });

  it('registers stories260k, launches it and reports progress up to ready', async () => {
    const reg = await api('POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE });
    expect(reg.status).toBe(200);
    const launch = await api('POST', '/v1/models', { model_name: 'stories', model_uid: 'tiny', gpu_memory_utilization: 0.3, max_model_len: 256 });
    expect(launch.status, JSON.stringify(launch.json)).toBe(200);
    const seen: number[] = [];
    await waitFor('the launch to be ready', async () => {
      const { json } = await api('GET', '/v1/models/tiny/progress');
      seen.push(json.progress);
      return json.status === 'ready';
    }, 60_000, 100);
    expect(seen.at(-1)).toBe(1);
    expect(seen.some((p) => p > 0 && p < 1)).toBe(true);
    const { json } = await api('GET', '/v1/models');
    expect(json.data.map((m: any) => m.id)).toEqual(['tiny']);
  });

  it('answers chat through the proxy with the openai client, streamed and not', async () => {
    expect((await chat()).length).toBeGreaterThan(0);
    const stream = await client().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 12, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe('length');
  });

  it('scales to two replicas, one on each worker', async () => {
    const res = await api('POST', '/v1/models/tiny/replicas', { replica: 2 });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const ready = await waitFor('two ready replicas', async () => ((await readyReplicas()).length === 2 ? readyReplicas() : null), 60_000);
    expect(ready.map((r: any) => r.worker).sort()).toEqual(['wa', 'wb']);
    const used = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'Once', max_tokens: 4 }) });
      expect(res.status).toBe(200);
      used.add(res.headers.get('x-pagoda-replica')!);
    }
    expect(used.size).toBeGreaterThanOrEqual(1);
  });

  it('restarts a killed runner, and the next request succeeds', async () => {
    const row = await server.platform.db.prisma.replica.findFirst({ where: { workerId: 'wa', status: 'ready' } });
    expect(row?.pid).toBeTruthy();
    process.kill(row!.pid!, 'SIGKILL');
    await waitFor('the runner to restart', async () => {
      const r = await server.platform.db.prisma.replica.findUnique({ where: { id: row!.id } });
      return r && r.restarts >= 1 && r.status === 'ready' && r.pid !== row!.pid;
    }, 60_000);
    await waitFor('a request to succeed', async () => (await chat()).length > 0, 10_000);
  });

  it('moves the replicas of a killed worker to the other worker', async () => {
    await workers.get('wb')!.kill('SIGKILL');
    const started = Date.now();
    await waitFor('both replicas on wa', async () => {
      const ready = await readyReplicas();
      return ready.length === 2 && ready.every((r: any) => r.worker === 'wa');
    }, 45_000);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect((await chat()).length).toBeGreaterThan(0);
    const { json } = await api('GET', '/v1/workers');
    expect(json.find((w: any) => w.worker === 'wb')?.status ?? 'gone').not.toBe('alive');
    await waitFor('wb to leave the cluster view', async () => !(await api('GET', '/v1/workers')).json.some((w: any) => w.worker === 'wb'), 20_000);
  });

  it('keeps every launched model after a server restart', async () => {
    await server.close();
    server = await boot();
    const { json } = await api('GET', '/v1/models/tiny');
    expect(json.model_uid).toBe('tiny');
    expect(json.replica).toBe(2);
    await waitFor('the proxy to route again', async () => (await chat()).length > 0, 20_000);
  });

  it('keeps serving while Redis restarts; management answers 503, then recovers with no job lost', async () => {
    const stream = await client().completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 200, stream: true });
    const iter = stream[Symbol.asyncIterator]();
    const first = await iter.next();
    expect(first.done).toBe(false);
    await redis.kill();
    let finish: string | null = null;
    for (let r = await iter.next(); !r.done; r = await iter.next()) finish = r.value.choices[0]?.finish_reason ?? finish;
    expect(finish).not.toBeNull();
    // Ready replicas keep answering new requests too.
    expect((await chat()).length).toBeGreaterThan(0);
    const down = await api('POST', '/v1/models/tiny/replicas', { replica: 1 });
    expect(down.status).toBe(503);
    expect(down.json.error.message).toMatch(/Redis/);
    expect((await api('GET', '/v1/models/tiny')).json.replica).toBe(2);

    await redis.start();
    const scaled = await waitFor('management to recover', async () => {
      const res = await api('POST', '/v1/models/tiny/replicas', { replica: 1 });
      return res.status === 200 ? res : null;
    }, 20_000, 250);
    expect(scaled.json.replica).toBe(1);
    // The terminate job for the dropped replica reaches the worker: it runs exactly one runner again.
    await waitFor('one replica left', async () => (await readyReplicas()).length === 1 && (await server.platform.db.prisma.replica.count()) === 1, 20_000);
    expect((await chat()).length).toBeGreaterThan(0);
  });

  it('terminates the model: no replicas, no claims, and the proxy answers 404', async () => {
    const res = await api('DELETE', '/v1/models/tiny');
    expect(res.status).toBe(200);
    expect(await server.platform.db.prisma.gpuClaim.count()).toBe(0);
    expect(await server.platform.db.prisma.replica.count()).toBe(0);
    const err = await client().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err.status).toBe(404);
  });
});
