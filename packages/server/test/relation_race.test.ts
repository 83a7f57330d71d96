// A terminate that lands between the queries of one Prisma call: `include` loads a replica's instance
// with a second query, so a replica read just before its model was deleted comes back with a null
// instance. The reconcile pass and the worker reports must treat it as gone, not fail on it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Heartbeat } from '@pagoda/protocol';
import { openInterleavedSqlite, type InterleavedDatabase } from '../../db/test/interleave.ts';
import { EventHub } from '../src/events.ts';
import type { JobQueues } from '../src/job_queues.ts';
import { Reconciler } from '../src/reconcile.ts';
import { ReportHandler } from '../src/reports.ts';
import { RouteTable } from '../src/route_table.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'pagoda-race-'));
let idb: InterleavedDatabase;
const warnings: string[] = [];
const log = pino(
  { level: 'warn' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      warnings.push(chunk.toString());
      done();
    },
  }),
);
/** Redis is away for this test: the passes read and route, they enqueue nothing. */
const PARAMS = { request: { model_name: 'stories' }, source: { model_path: '/models/stories', hf_repo_id: null }, engine_kwargs: {}, request_limits: null };
const queues = { available: false, launch: async () => {}, terminate: async () => {} } as unknown as JobQueues;

afterAll(async () => {
  await idb?.db.close();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  idb ??= await openInterleavedSqlite(`file:${join(dataDir, 'pagoda.db')}`);
  warnings.length = 0;
  const { prisma } = idb.db;
  await prisma.modelInstance.deleteMany();
  await prisma.worker.upsert({ where: { id: 'w1' }, create: { id: 'w1', host: 'h', address: '127.0.0.1', devices: [] }, update: { status: 'alive' } });
  const other = await prisma.modelInstance.create({ data: { uid: 'other', modelName: 'stories', engine: 'builtin', params: PARAMS, status: 'ready' } });
  await prisma.replica.create({ data: { instanceId: other.id, index: 0, workerId: 'w1', gpuIndices: [], status: 'ready', port: 40001 } });
  const doomed = await prisma.modelInstance.create({ data: { uid: 'doomed', modelName: 'stories', engine: 'builtin', params: PARAMS, status: 'ready' } });
  await prisma.replica.create({ data: { instanceId: doomed.id, index: 0, workerId: 'w1', gpuIndices: [], status: 'ready', port: 40002, updatedAt: new Date(0) } });
});

describe('a model terminated between the queries of one Prisma call', () => {
  it('the reconcile pass routes what is left and does not fail', async () => {
    const table = new RouteTable();
    const reconciler = new Reconciler({ db: idb.db, queues, table, hub: new EventHub(), log }, { intervalMs: 60_000, lostAfterMs: 60_000, removeAfterMs: 600_000 });
    // The routes read is ready replicas, then each one's worker and instance: the delete lands before the latter.
    idb.beforeNextRead('ModelInstance', `DELETE FROM "ModelInstance" WHERE "uid" = ?`, 'doomed');
    await reconciler.refreshRoutes();
    expect(table.models()).toEqual(['other']);
    expect(table.limitOf('doomed')).toBeUndefined();
    await reconciler.runOnce();
    expect(warnings.join('')).not.toMatch(/reconcile pass failed/);
  });

  it('a heartbeat that no longer lists the replica is applied, and nothing is re-sent for the deleted model', async () => {
    const launched: string[] = [];
    const sending = { ...queues, launch: async (_w: string, job: { model_uid: string }) => void launched.push(job.model_uid) } as unknown as JobQueues;
    const reports = new ReportHandler({ db: idb.db, queues: sending, hub: new EventHub(), log, resendAfterMs: 0, onRoutesChanged: () => {} });
    const hb: Heartbeat = { type: 'heartbeat', worker_id: 'w1', host: 'h', address: '127.0.0.1', devices: [], replicas: [], started_at: new Date().toISOString(), sent_at: new Date().toISOString() };
    // The heartbeat's worker look-up and upsert read Worker; the assigned replicas' instances are the first ModelInstance read.
    idb.beforeNextRead('ModelInstance', `DELETE FROM "ModelInstance" WHERE "uid" = ?`, 'doomed');
    await reports.handle(JSON.stringify(hb));
    expect(launched).not.toContain('doomed');
    expect(await idb.db.prisma.modelInstance.findUnique({ where: { uid: 'doomed' } })).toBeNull();
  });
});
