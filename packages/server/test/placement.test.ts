// Placement under contention, on SQLite and PostgreSQL: 20 launches at once for 8 declared GPUs never
// claim a GPU beyond its memory, refused launches leave nothing behind, and a launch that cannot fit
// is refused with the plan's numbers before any job reaches a worker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { reportChannel, workerQueueName, type Heartbeat } from '@pagoda/protocol';
import { createScratchDatabase } from '../../db/test/pg.ts';
import { startServer, type RunningServer } from '../src/index.ts';
import { GiB, STORIES, waitFor } from './platform_helpers.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** A worker as the server sees it: heartbeats on the report channel (no process, so jobs stay queued). */
async function declareWorker(prefix: string, id: string, gpus: number, memory: number): Promise<void> {
  const pub = new Redis(REDIS_URL);
  const hb: Heartbeat = {
    type: 'heartbeat',
    worker_id: id,
    host: 'test',
    address: '127.0.0.1',
    devices: [
      ...Array.from({ length: gpus }, (_, index) => ({ kind: 'gpu' as const, index, name: 'declared', memory_total: memory, memory_used: 0, utilization: 0, declared: true })),
      { kind: 'cpu' as const, index: -1, name: 'cpu', memory_total: 64 * GiB, memory_used: 0, utilization: 0, declared: false },
    ],
    replicas: [],
    started_at: new Date().toISOString(),
    sent_at: new Date().toISOString(),
  };
  await pub.publish(reportChannel(prefix), JSON.stringify(hb));
  pub.disconnect();
}

async function boot(databaseUrl: string, prefix: string): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pagoda-place-'));
  const server = await startServer({ port: 0, dataDir, databaseUrl, redisUrl: REDIS_URL, redisPrefix: prefix, logLevel: 'silent', reconcileMs: 60_000, workerLostMs: 600_000 });
  cleanups.push(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}

const post = (server: RunningServer, path: string, body: unknown) =>
  fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

for (const provider of ['sqlite', 'postgresql'] as const) {
  describe(`placement on ${provider}`, () => {
    it('20 concurrent launches for 8 GPUs: each GPU claimed at most to its memory, refusals leave nothing', async () => {
      const prefix = `pl${provider}${Date.now().toString(36)}`;
      let url: string;
      if (provider === 'postgresql') {
        const scratch = await createScratchDatabase('pagoda_place');
        cleanups.push(() => scratch.drop());
        url = scratch.url;
      } else url = `file:${join(mkdtempSync(join(tmpdir(), 'pagoda-place-db-')), 'p.db')}`;
      const server = await boot(url, prefix);
      const prisma = server.platform.db.prisma;
      await declareWorker(prefix, 'w1', 4, 8 * GiB);
      await declareWorker(prefix, 'w2', 4, 8 * GiB);
      await waitFor('two workers', async () => (await prisma.worker.count()) === 2, 10_000);

      // gpu_memory_utilization 0.6: one replica per GPU (two would need 1.2 of it).
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => post(server, '/v1/models', { model_name: 'llama-3.2-instruct', model_size_in_billions: 1, model_uid: `m${i}`, model_path: STORIES, gpu_memory_utilization: 0.6, max_model_len: 256 })),
      );
      const accepted = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status === 409);
      expect(accepted.length + refused.length, JSON.stringify(results.find((r) => r.status !== 200 && r.status !== 409))).toBe(20);
      expect(accepted).toHaveLength(8);
      for (const r of refused) expect(r.json.error.message).toMatch(/does not fit/);

      const claims = await prisma.gpuClaim.findMany();
      const perGpu = new Map<string, number>();
      for (const c of claims) perGpu.set(`${c.workerId}#${c.gpuIndex}`, (perGpu.get(`${c.workerId}#${c.gpuIndex}`) ?? 0) + Number(c.memoryBytes));
      expect(perGpu.size).toBe(8);
      for (const bytes of perGpu.values()) expect(bytes).toBeLessThanOrEqual(8 * GiB);
      expect(await prisma.modelInstance.count()).toBe(8);
      expect(await prisma.replica.count()).toBe(8);

      // Each accepted launch put exactly one job on its worker's queue; refusals none.
      let jobs = 0;
      for (const w of ['w1', 'w2']) {
        const q = new Queue(workerQueueName(w), { connection: { url: REDIS_URL }, prefix });
        jobs += await q.count();
        await q.obliterate({ force: true });
        await q.close();
      }
      expect(jobs).toBe(8);
    });
  });
}

describe('a launch that cannot fit', () => {
  it('is refused with the plan numbers and what would fit; nothing is created or queued', async () => {
    const prefix = `nf${Date.now().toString(36)}`;
    const server = await boot(`file:${join(mkdtempSync(join(tmpdir(), 'pagoda-nf-')), 'p.db')}`, prefix);
    await declareWorker(prefix, 'small', 1, 4 * GiB);
    await waitFor('the worker', async () => (await server.platform.db.prisma.worker.count()) === 1, 10_000);
    const res = await post(server, '/v1/models', { model_name: 'llama-3.1-instruct', model_size_in_billions: 8, model_uid: 'big' });
    expect(res.status).toBe(409);
    expect(res.json.error.message).toMatch(/does not fit/);
    expect(res.json.error.message).toMatch(/GiB/);
    expect(res.json.plan.fits).toBe(false);
    expect(res.json.plan.weights_bytes).toBeGreaterThan(8e9);
    expect(await server.platform.db.prisma.modelInstance.count()).toBe(0);
    const q = new Queue(workerQueueName('small'), { connection: { url: REDIS_URL }, prefix });
    expect(await q.count()).toBe(0);
    await q.close();
    const plan = await post(server, '/api/plan', { model_name: 'llama-3.1-instruct', model_size_in_billions: 8 });
    expect(plan.status).toBe(200);
    expect(plan.json.fits).toBe(false);
    expect(plan.json.plan.problems.length).toBeGreaterThan(0);
  });
});
