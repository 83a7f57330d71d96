// What the platform says about launches must be true, on SQLite and PostgreSQL: a replica its worker
// gave up on frees its GPU memory claim; a model scaled to 0 reads 'stopped' and requests to it get
// an error that says so. The worker is played over Redis (heartbeats and replica reports), so each
// state is reached at once and exactly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { reportChannel, type Heartbeat, type ReplicaReport } from '@pagoda/protocol';
import { createScratchDatabase } from '../../db/test/pg.ts';
import { startServer, type RunningServer } from '../src/index.ts';
import { GiB, STORIES, waitFor } from './platform_helpers.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function publish(prefix: string, report: unknown): Promise<void> {
  const pub = new Redis(REDIS_URL);
  await pub.publish(reportChannel(prefix), JSON.stringify(report));
  pub.disconnect();
}

/** A worker with one declared 8 GiB GPU, as the server sees it (no process: jobs stay queued). */
function heartbeat(id: string): Heartbeat {
  return {
    type: 'heartbeat',
    worker_id: id,
    host: 'test',
    address: '127.0.0.1',
    devices: [
      { kind: 'gpu', index: 0, name: 'declared', memory_total: 8 * GiB, memory_used: 0, utilization: 0, declared: true },
      { kind: 'cpu', index: -1, name: 'cpu', memory_total: 64 * GiB, memory_used: 0, utilization: 0, declared: false },
    ],
    replicas: [],
    started_at: new Date().toISOString(),
    sent_at: new Date().toISOString(),
  };
}

function report(replicaId: string, uid: string, change: Partial<ReplicaReport>): unknown {
  const replica: ReplicaReport = { replica_id: replicaId, model_uid: uid, status: 'loading', progress: 0.5, phase: null, pid: null, port: null, restarts: 0, last_error: null, ...change };
  return { type: 'replica', worker_id: 'w1', replica };
}

async function boot(provider: 'sqlite' | 'postgresql'): Promise<{ server: RunningServer; prefix: string }> {
  const prefix = `lt${provider}${Date.now().toString(36)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'pagoda-truth-'));
  let databaseUrl = `file:${join(dataDir, 'pagoda.db')}`;
  if (provider === 'postgresql') {
    const scratch = await createScratchDatabase('pagoda_truth');
    cleanups.push(() => scratch.drop());
    databaseUrl = scratch.url;
  }
  const server = await startServer({ port: 0, dataDir, databaseUrl, redisUrl: REDIS_URL, redisPrefix: prefix, logLevel: 'silent', reconcileMs: 200, workerLostMs: 600_000 });
  cleanups.push(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  await publish(prefix, heartbeat('w1'));
  await waitFor('the worker to register', async () => (await server.platform.db.prisma.worker.findUnique({ where: { id: 'w1' } }))?.status === 'alive', 10_000, 50);
  const reg = await call(server, 'POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE });
  expect(reg.status, JSON.stringify(reg.json)).toBe(201);
  return { server, prefix };
}

async function call(server: RunningServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function replicaIds(server: RunningServer, uid: string): Promise<string[]> {
  const { json } = await call(server, 'GET', `/v1/models/${uid}/replicas`);
  return json.replicas.map((r: any) => r.replica_id);
}

for (const provider of ['sqlite', 'postgresql'] as const) {
  describe(`launch state on ${provider}`, () => {
    it('a replica its worker gave up on releases its GPU claim: a launch that needs the memory then succeeds', async () => {
      const { server, prefix } = await boot(provider);
      const first = await call(server, 'POST', '/v1/models', { model_name: 'stories', model_uid: 'broken', gpu_memory_utilization: 0.6, max_model_len: 256 });
      expect(first.status, JSON.stringify(first.json)).toBe(201);
      // While the first claims 60% of the GPU, a second launch of the same size does not fit.
      const refused = await call(server, 'POST', '/v1/models', { model_name: 'stories', model_uid: 'second', gpu_memory_utilization: 0.6, max_model_len: 256 });
      expect(refused.status).toBe(409);

      const [replica] = await replicaIds(server, 'broken');
      await publish(prefix, report(replica!, 'broken', { status: 'loading', restarts: 5, last_error: 'the runner exited with code 1' }));
      await publish(prefix, report(replica!, 'broken', { status: 'failed', restarts: 5, last_error: 'the runner exited with code 1 6 times in a row; gave up after 5 restarts' }));
      const failed = await waitFor('the model to read failed', async () => {
        const { json } = await call(server, 'GET', '/v1/models/broken');
        return json.status === 'failed' ? json : null;
      }, 10_000, 50);
      expect(failed.last_error).toMatch(/gave up after 5 restarts/);
      const devices = (await call(server, 'GET', '/v1/cluster/devices')).json;
      expect(devices.find((d: any) => d.kind === 'gpu').memory_claimed).toBe(0);

      const second = await call(server, 'POST', '/v1/models', { model_name: 'stories', model_uid: 'second', gpu_memory_utilization: 0.6, max_model_len: 256 });
      expect(second.status, JSON.stringify(second.json)).toBe(201);
      // The failed model stays listed with its error until it is terminated; terminating it changes no claim.
      expect((await call(server, 'GET', '/v1/models?all=1')).json.data.map((m: any) => [m.id, m.status])).toEqual([
        ['broken', 'failed'],
        ['second', 'launching'],
      ]);
      expect((await call(server, 'DELETE', '/v1/models/broken')).status).toBe(200);
      const after = (await call(server, 'GET', '/v1/cluster/devices')).json;
      expect(after.find((d: any) => d.kind === 'gpu').memory_claimed).toBe(Math.floor(8 * GiB * 0.6));
    });

    it('a model scaled to 0 reads stopped, and a request to it gets a 503 that says so', async () => {
      const { server, prefix } = await boot(provider);
      expect((await call(server, 'POST', '/v1/models', { model_name: 'stories', model_uid: 'idle', gpu_memory_utilization: 0.3, max_model_len: 256 })).status).toBe(201);
      const [replica] = await replicaIds(server, 'idle');
      await publish(prefix, report(replica!, 'idle', { status: 'ready', progress: 1, port: 1 }));
      await waitFor('the model to be ready', async () => (await call(server, 'GET', '/v1/models/idle')).json.status === 'ready', 10_000, 50);

      const scaled = await call(server, 'POST', '/v1/models/idle/replicas', { replica: 0 });
      expect(scaled.status, JSON.stringify(scaled.json)).toBe(200);
      expect(scaled.json.status).toBe('stopped');
      const view = (await call(server, 'GET', '/v1/models/idle')).json;
      expect(view).toMatchObject({ status: 'stopped', replica: 0, replicas: [] });
      // Not among the servable models; listed as stopped with all=1.
      expect((await call(server, 'GET', '/v1/models')).json.data).toEqual([]);
      expect((await call(server, 'GET', '/v1/models?all=1')).json.data.map((m: any) => [m.id, m.status])).toEqual([['idle', 'stopped']]);
      // Several passes later it still reads stopped (the reconcile loop agrees).
      await new Promise((r) => setTimeout(r, 600));
      expect((await call(server, 'GET', '/v1/models/idle')).json.status).toBe('stopped');

      const chat = await call(server, 'POST', '/v1/chat/completions', { model: 'idle', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      expect(chat.status).toBe(503);
      expect(chat.json.error.message).toMatch(/'idle' is stopped: it is scaled to 0 replicas; scale it up/);
      expect(chat.json.error.message).not.toMatch(/no replica is ready yet/);

      const up = await call(server, 'POST', '/v1/models/idle/replicas', { replica: 1 });
      expect(up.json.status).toBe('launching');
      const again = await call(server, 'POST', '/v1/completions', { model: 'idle', prompt: 'hi', max_tokens: 4 });
      expect(again.status).toBe(503);
      expect(again.json.error.message).toMatch(/no replica is ready yet/);
    });
  });
}
