// Two routes Running models relies on: GET /v1/models/{uid}/logs (each replica's recent runner log
// lines, kept in Redis as workers report them, bounded, admin only, 404 in the API's error shape for
// an unknown uid, and still there for a server started afterwards) and POST /v1/models/{uid}/retry
// (a failed model's replicas placed and sent again).
// One worker is played over Redis (declared-cluster.ts), so every report arrives exactly.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { reportChannel, workerQueueName } from '@pagoda/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogHistory } from '../src/log-history.ts';
import { startDeclaredCluster, type DeclaredCluster } from './declared-cluster.ts';
import { waitFor } from './platform-helpers.ts';

const ADMIN = 'admin-key-for-log-tests-0123456789';
const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let c: DeclaredCluster;
let pub: Redis;

async function logs(replicaId: string, uid: string, lines: string[]): Promise<void> {
  await pub.publish(reportChannel(c.prefix), JSON.stringify({ type: 'logs', worker_id: 'w1', replica_id: replicaId, model_uid: uid, lines }));
}

beforeAll(async () => {
  c = await startDeclaredCluster('sqlite', 1, 8 * 2 ** 30, { adminKey: ADMIN });
  pub = new Redis(REDIS_URL);
});

afterAll(async () => {
  pub?.disconnect();
  await c?.close();
});

describe('GET /v1/models/{uid}/logs', () => {
  it('returns each replica’s recent lines in order, the last 500 at most, and ?lines=N of them', async () => {
    const launch = await c.call('POST', '/v1/models', { model_name: 'stories', model_uid: 'logged', gpu_memory_utilization: 0.3, max_model_len: 256 });
    expect(launch.status, JSON.stringify(launch.json)).toBe(200);
    const [id] = await c.replicaIds('logged');
    const empty = await c.call('GET', '/v1/models/logged/logs');
    expect(empty.json).toEqual({ model_uid: 'logged', replicas: [{ replica_id: id, index: 0, lines: [], total: 0 }] });

    const first = Array.from({ length: 300 }, (_, i) => JSON.stringify({ level: 30, time: 1_700_000_000_000 + i, msg: `line ${i}` }));
    const second = Array.from({ length: 300 }, (_, i) => `plain line ${300 + i}`);
    await logs(id!, 'logged', first);
    await logs(id!, 'logged', second);
    const got = await waitFor('the lines to be kept', async () => {
      const r = await c.call('GET', '/v1/models/logged/logs');
      return r.json.replicas[0].total === 600 ? r.json : null;
    }, 10_000, 50);
    const kept = got.replicas[0].lines as string[];
    expect(kept).toHaveLength(500);
    expect(kept[0]).toBe(first[100]);
    expect(kept.at(-1)).toBe('plain line 599');

    const last = await c.call('GET', '/v1/models/logged/logs?lines=3');
    expect(last.json.replicas[0].lines).toEqual(['plain line 597', 'plain line 598', 'plain line 599']);
  });

  it('refuses a bad lines count, an unknown model and a caller without the admin key, in the API’s error shape', async () => {
    const bad = await c.call('GET', '/v1/models/logged/logs?lines=0');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ param: 'lines', message: expect.stringMatching(/1 to 500/) });

    const unknown = await c.call('GET', '/v1/models/nobody/logs');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'model_not_found', param: 'model_uid' });
    expect(unknown.json.error.message).toMatch(/'nobody' is not launched/);

    const anonymous = await fetch(`${c.server.url}/v1/models/logged/logs`);
    expect(anonymous.status).toBe(401);
    expect((await anonymous.json()).error.code).toBe('missing_api_key');
  });

  it('forgets a model’s lines when it is terminated', async () => {
    const [id] = await c.replicaIds('logged');
    expect((await c.call('DELETE', '/v1/models/logged')).status).toBe(200);
    expect(await c.server.platform.logs.recent([id!])).toEqual([]);
    expect(await pub.keys(`${c.prefix}:logs*`)).toEqual([]);
  });
});

describe('POST /v1/models/{uid}/retry', () => {
  it('places a failed replica again and sends it to the worker; refuses a model with nothing failed', async () => {
    const launch = await c.call('POST', '/v1/models', { model_name: 'stories', model_uid: 'flaky', gpu_memory_utilization: 0.4, max_model_len: 256 });
    expect(launch.status, JSON.stringify(launch.json)).toBe(200);
    const [failedId] = await c.replicaIds('flaky');

    const early = await c.call('POST', '/v1/models/flaky/retry');
    expect(early.status).toBe(409);
    expect(early.json.error.message).toMatch(/no failed replica/);

    await c.report(failedId!, 'flaky', { status: 'failed', progress: 0, last_error: 'runner exited: gave up after 0 restarts' });
    await waitFor('the model to fail', async () => (await c.call('GET', '/v1/models/flaky')).json.status === 'failed', 10_000, 50);
    // The failed replica released its claim.
    const claimed = () => c.call('GET', '/v1/cluster/devices').then((r) => r.json.find((d: any) => d.kind === 'gpu').memory_claimed as number);
    expect(await claimed()).toBe(0);

    const retry = await c.call('POST', '/v1/models/flaky/retry');
    expect(retry.status, JSON.stringify(retry.json)).toBe(200);
    expect(retry.json).toEqual({ model_uid: 'flaky', retried: 1, status: 'launching' });
    const after = await c.call('GET', '/v1/models/flaky');
    expect(after.json.status).toBe('launching');
    expect(after.json.replicas).toHaveLength(1);
    const [newId] = await c.replicaIds('flaky');
    expect(newId).not.toBe(failedId);
    expect(after.json.replicas[0].status).toBe('scheduled');
    expect(await claimed()).toBeGreaterThan(0);
    // The launch job for the new replica is waiting on the worker's queue.
    const q = new Queue(workerQueueName('w1'), { connection: { url: REDIS_URL }, prefix: c.prefix });
    const queued = await q.getJobs(['waiting', 'delayed', 'prioritized']);
    await q.close();
    expect(queued.filter((j) => j.name === 'launch').map((j) => j.data.replica_id)).toContain(newId);

    // It can become ready like any replica.
    await c.report(newId!, 'flaky', { status: 'ready', progress: 1, port: 1 });
    await waitFor('the retried model to be ready', async () => (await c.call('GET', '/v1/models/flaky')).json.status === 'ready', 10_000, 50);
  });

  it('answers 404 in the API’s error shape for an unknown model', async () => {
    const r = await c.call('POST', '/v1/models/ghost/retry');
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: 'model_not_found', param: 'model_uid' });
  });
});

describe('LogHistory', () => {
  const prefix = `lh${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  afterAll(async () => {
    const keys = await pub.keys(`${prefix}:*`);
    if (keys.length > 0) await pub.del(...keys);
  });

  it('bounds lines per replica and characters per line, and counts every line reported', async () => {
    const h = new LogHistory(pub, prefix, 3, 10);
    await h.add('m', 'r1', ['1', '2', '3', '4']);
    await h.add('m', 'r2', ['0123456789abc']);
    await h.add('m', 'r1', ['5']);
    expect(await h.recent(['r1', 'r2', 'r-none'])).toEqual([
      { replica_id: 'r1', lines: ['3', '4', '5'], total: 5 },
      { replica_id: 'r2', lines: ['0123456789…'], total: 1 },
    ]);
    expect(await h.recent(['r1'], 1)).toEqual([{ replica_id: 'r1', lines: ['5'], total: 5 }]);
    // Nothing outlives a week without a new line.
    for (const key of await pub.keys(`${prefix}:*`)) expect(await pub.ttl(key)).toBeGreaterThan(6 * 24 * 3600);
  });

  it('is what a server started later (or another server) reads, until the model is forgotten', async () => {
    const before = new LogHistory(pub, prefix);
    await before.add('kept', 'k1', ['loaded the model', 'ready on port 4100']);
    await before.add('other', 'o1', ['unrelated']);
    const elsewhere = new Redis(REDIS_URL);
    const after = new LogHistory(elsewhere, prefix);
    expect(await after.recent(['k1'])).toEqual([{ replica_id: 'k1', lines: ['loaded the model', 'ready on port 4100'], total: 2 }]);
    await after.forgetModel('kept');
    elsewhere.disconnect();
    expect(await before.recent(['k1', 'o1'])).toEqual([{ replica_id: 'o1', lines: ['unrelated'], total: 1 }]);
  });
});
