// A server (SQLite or PostgreSQL) with one worker played over Redis: heartbeats declaring its GPUs
// and replica reports sent by the test, so each replica state is reached at once and exactly (no
// worker process: jobs stay queued). stories260k is registered as 'stories'.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { reportChannel, type Heartbeat, type ReplicaReport } from '@pagoda/protocol';
import { createScratchDatabase } from '../../db/test/pg.ts';
import { startServer, type RunningServer } from '../src/index.ts';
import { GiB, STORIES, waitFor } from './platform-helpers.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}";

export type Provider = 'sqlite' | 'postgresql';

export interface DeclaredCluster {
  server: RunningServer;
  /** The Redis key prefix of its queues. */
  prefix: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** Publishes what worker w1 says about one replica. */
  report(replicaId: string, uid: string, change: Partial<ReplicaReport>): Promise<void>;
  /** Publishes runner log lines of one replica as worker w1 would. */
  logs(replicaId: string, uid: string, lines: string[]): Promise<void>;
  replicaIds(uid: string): Promise<string[]>;
  close(): Promise<void>;
}

async function publish(prefix: string, message: unknown): Promise<void> {
  const pub = new Redis(REDIS_URL);
  await pub.publish(reportChannel(prefix), JSON.stringify(message));
  pub.disconnect();
}

/** `adminKey`: the server requires it, and `call` sends it. */
export async function startDeclaredCluster(provider: Provider, gpus = 1, gpuBytes = 8 * GiB, opts: { adminKey?: string } = {}): Promise<DeclaredCluster> {
  // Random too: test files start clusters in parallel, and two in one millisecond must not share queues.
  const prefix = `dc${provider}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'pagoda-declared-'));
  let databaseUrl = `file:${join(dataDir, 'pagoda.db')}`;
  let drop = async () => {};
  if (provider === 'postgresql') {
    const scratch = await createScratchDatabase('pagoda_declared');
    databaseUrl = scratch.url;
    drop = scratch.drop;
  }
  const server = await startServer({ port: 0, dataDir, databaseUrl, redisUrl: REDIS_URL, redisPrefix: prefix, logLevel: 'silent', reconcileMs: 200, workerLostMs: 600_000, adminKey: opts.adminKey });
  const close = async () => {
    await server.close();
    await drop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(opts.adminKey ? { authorization: `Bearer ${opts.adminKey}` } : {}) };
    const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  const hb: Heartbeat = {
    type: 'heartbeat',
    worker_id: 'w1',
    host: 'test',
    address: '127.0.0.1',
    devices: [
      ...Array.from({ length: gpus }, (_, index) => ({ kind: 'gpu' as const, index, name: 'declared', memory_total: gpuBytes, memory_used: 0, utilization: 0, declared: true })),
      { kind: 'cpu', index: -1, name: 'cpu', memory_total: 64 * GiB, memory_used: 0, utilization: 0, declared: false },
    ],
    replicas: [],
    started_at: new Date().toISOString(),
    sent_at: new Date().toISOString(),
  };
  try {
    await publish(prefix, hb);
    await waitFor('the worker to register', async () => (await server.platform.db.prisma.worker.findUnique({ where: { id: 'w1' } }))?.status === 'alive', 10_000, 50);
    const reg = await call('POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE });
    if (reg.status !== 200) throw new Error(`registering stories: ${JSON.stringify(reg.json)}`);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    server,
    prefix,
    call,
    async report(replicaId, uid, change) {
      const replica: ReplicaReport = { replica_id: replicaId, model_uid: uid, status: 'loading', progress: 0.5, phase: null, pid: null, port: null, restarts: 0, last_error: null, ...change };
      await publish(prefix, { type: 'replica', worker_id: 'w1', replica });
    },
    async logs(replicaId, uid, lines) {
      await publish(prefix, { type: 'logs', worker_id: 'w1', replica_id: replicaId, model_uid: uid, lines });
    },
    async replicaIds(uid) {
      const { json } = await call('GET', `/v1/models/${uid}/replicas`);
      return json.replicas.map((r: any) => r.replica_id);
    },
    close,
  };
}
