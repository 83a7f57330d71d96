// /v1/cluster/devices, /v1/cluster/info and /v1/workers: what the workers report, with the memory
// Pagoda has claimed on each device and the replicas placed there.
import { Router } from 'express';
import type { ClusterDevice, ClusterInfo, Device, WorkerView } from '@pagoda/protocol';
import type { Auth } from '../auth.ts';
import { withLiveRelations } from '../live-relations.ts';
import type { Platform } from '../platform.ts';
import { versionInfo } from '../version.ts';

export function clusterRoutes(p: Platform, auth: Auth): Router {
  const r = Router();
  const admin = auth.require('admin');

  const workers = async () =>
    p.db.prisma.worker.findMany({ orderBy: { id: 'asc' }, include: { claims: { include: { replica: { include: { instance: { select: { uid: true } } } } } }, replicas: { select: { id: true } } } });

  r.get('/v1/cluster/devices', admin, async (_req, res) => {
    const rows = await workers();
    res.json(
      rows.flatMap((w) =>
        (w.devices as unknown as Device[]).map((d) => {
          const claims = w.claims.filter((c) => c.gpuIndex === d.index);
          return {
            worker: w.id,
            worker_status: w.status,
            address: w.address,
            ...d,
            memory_claimed: claims.reduce((s, c) => s + Number(c.memoryBytes), 0),
            models: [...new Set(withLiveRelations(withLiveRelations(claims, 'replica').map((c) => c.replica), 'instance').map((r) => r.instance.uid))],
          } satisfies ClusterDevice;
        }),
      ),
    );
  });

  r.get('/v1/workers', admin, async (_req, res) => {
    const rows = await workers();
    res.json(
      rows.map((w) => ({
        worker: w.id,
        host: w.host,
        address: w.address,
        status: w.status,
        last_heartbeat: w.lastHeartbeat.toISOString(),
        gpus: (w.devices as unknown as Device[]).filter((d) => d.kind === 'gpu').length,
        replicas: w.replicas.length,
      }) satisfies WorkerView),
    );
  });

  r.get('/v1/cluster/info', admin, async (_req, res) => {
    const [rows, models, replicas] = await Promise.all([workers(), p.db.prisma.modelInstance.count(), p.db.prisma.replica.groupBy({ by: ['status'], _count: { _all: true } })]);
    res.json({
      server: { ...versionInfo(), database: p.db.provider, redis: p.queues.available ? 'ok' : 'unavailable' },
      workers: rows.map((w) => ({ worker: w.id, address: w.address, status: w.status, last_heartbeat: w.lastHeartbeat.toISOString(), devices: w.devices as unknown as Device[] })),
      models,
      replicas: Object.fromEntries(replicas.map((g) => [g.status, g._count._all])),
    } satisfies ClusterInfo);
  });
  return r;
}
