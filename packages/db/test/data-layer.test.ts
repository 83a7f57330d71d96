// The data layer on both providers: the same suite against a SQLite file and a PostgreSQL database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/index.ts';
import { createScratchDatabase } from './pg.ts';

interface Backend {
  name: string;
  open(): Promise<{ url: string; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'pagoda-db-'));
      return { url: `file:${join(dir, 'pagoda.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgresql',
    async open() {
      const scratch = await createScratchDatabase();
      return { url: scratch.url, cleanup: scratch.drop };
    },
  },
];

describe.each(backends)('data layer on $name', (backend) => {
  let db: Database;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const opened = await backend.open();
    cleanup = opened.cleanup;
    db = await openDatabase(opened.url);
  });
  afterAll(async () => {
    await db?.close();
    await cleanup?.();
  });

  it('creates, reads and updates a launched model with its replicas', async () => {
    const instance = await db.prisma.modelInstance.create({
      data: {
        uid: 'llama-a',
        modelName: 'llama-3.1-instruct',
        engine: 'builtin',
        params: { max_model_len: 4096, gpu_memory_utilization: 0.9 },
        desiredReplicas: 2,
        replicas: { create: [{ index: 0, gpuIndices: [0] }, { index: 1, gpuIndices: [1], memoryBytes: 17_000_000_000n }] },
      },
      include: { replicas: { orderBy: { index: 'asc' } } },
    });
    expect(instance.replicas.map((r) => r.index)).toEqual([0, 1]);
    expect(instance.replicas[1]!.memoryBytes).toBe(17_000_000_000n);

    const updated = await db.prisma.modelInstance.update({ where: { uid: 'llama-a' }, data: { status: 'ready', desiredReplicas: 3 } });
    expect(updated.status).toBe('ready');
    const read = await db.prisma.modelInstance.findUniqueOrThrow({ where: { uid: 'llama-a' } });
    expect(read.desiredReplicas).toBe(3);
    expect(read.params).toEqual({ max_model_len: 4096, gpu_memory_utilization: 0.9 });
    expect(read.updatedAt.getTime()).toBeGreaterThanOrEqual(read.createdAt.getTime());
  });

  it('rejects a duplicate registration name and a duplicate replica index', async () => {
    await db.prisma.modelRegistration.create({ data: { name: 'my-model', source: 'custom', modelPath: '/m' } });
    await expect(db.prisma.modelRegistration.create({ data: { name: 'my-model', source: 'custom' } })).rejects.toMatchObject({
      code: 'P2002',
    });
    const inst = await db.prisma.modelInstance.create({ data: { uid: 'dup-test', modelName: 'x', engine: 'builtin', params: {} } });
    await db.prisma.replica.create({ data: { instanceId: inst.id, index: 0, gpuIndices: [] } });
    await expect(db.prisma.replica.create({ data: { instanceId: inst.id, index: 0, gpuIndices: [] } })).rejects.toMatchObject({
      code: 'P2002',
    });
    expect(await db.prisma.modelRegistration.count({ where: { name: 'my-model' } })).toBe(1);
  });

  it('rolls a failed transaction back wholly', async () => {
    await db.prisma.worker.create({ data: { id: 'w1', host: 'host-a', address: 'http://127.0.0.1:1', devices: [] } });
    await expect(
      db.prisma.$transaction(async (tx) => {
        const inst = await tx.modelInstance.create({ data: { uid: 'half', modelName: 'x', engine: 'builtin', params: {} } });
        const rep = await tx.replica.create({ data: { instanceId: inst.id, index: 0, workerId: 'w1', gpuIndices: [0] } });
        await tx.gpuClaim.create({ data: { workerId: 'w1', gpuIndex: 0, replicaId: rep.id, memoryBytes: 1n } });
        // The same claim twice violates the unique key: everything above must disappear.
        await tx.gpuClaim.create({ data: { workerId: 'w1', gpuIndex: 0, replicaId: rep.id, memoryBytes: 1n } });
      }),
    ).rejects.toMatchObject({ code: 'P2002' });
    expect(await db.prisma.modelInstance.findUnique({ where: { uid: 'half' } })).toBeNull();
    expect(await db.prisma.gpuClaim.count()).toBe(0);
  });

  it('deletes an instance with its replicas and claims (cascade)', async () => {
    const inst = await db.prisma.modelInstance.create({
      data: { uid: 'cascade', modelName: 'x', engine: 'builtin', params: {}, replicas: { create: [{ index: 0, workerId: 'w1', gpuIndices: [2] }] } },
      include: { replicas: true },
    });
    await db.prisma.gpuClaim.create({ data: { workerId: 'w1', gpuIndex: 2, replicaId: inst.replicas[0]!.id, memoryBytes: 5n } });
    await db.prisma.modelInstance.delete({ where: { uid: 'cascade' } });
    expect(await db.prisma.replica.count({ where: { instanceId: inst.id } })).toBe(0);
    expect(await db.prisma.gpuClaim.count({ where: { gpuIndex: 2 } })).toBe(0);
  });

  it('stores API keys hashed and unique, and events in order', async () => {
    await db.prisma.apiKey.create({ data: { name: 'admin', keyHash: 'h1', prefix: 'pk-ab', scope: 'admin' } });
    await expect(db.prisma.apiKey.create({ data: { name: 'other', keyHash: 'h1', prefix: 'pk-cd', scope: 'inference' } })).rejects.toMatchObject({
      code: 'P2002',
    });
    await db.prisma.event.create({ data: { kind: 'launch', subject: 'a', message: 'first' } });
    await db.prisma.event.create({ data: { kind: 'launch', subject: 'a', message: 'second', data: { replicas: 1 } } });
    const events = await db.prisma.event.findMany({ orderBy: { id: 'asc' } });
    expect(events.map((e) => e.message)).toEqual(['first', 'second']);
  });
});
