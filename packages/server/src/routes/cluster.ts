// /v1/cluster/devices, /v1/cluster/info and /v1/workers: what the workers report, with the memory
// Pagoda has claimed on each device and the replicas placed there.
import { Router } from 'express';
import type { Device } from '@pagoda/protocol';
import type { Auth } from '../auth.ts';
import { withLiveRelations } from '../live_relations.ts';
import type { Platform } from '../platform.ts';
import type { ModelFamily } from '../catalog/index.ts';
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
          };
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
      })),
    );
  });

  // Xinference's client asks this first, without a key: whether to send one.
  r.get('/v1/cluster/auth', async (_req, res) => {
    res.json({ auth: !(await auth.open()) });
  });

  // Xinference's get_supervisor_info.
  r.get('/v1/supervisor', admin, async (req, res) => {
    res.json({ address: `${req.hostname}:${req.socket.localPort ?? ''}`, ...versionInfo(), database: p.db.provider });
  });

  // Xinference's list_cached_models: model files on this platform's machines that a launch would not download.
  r.get('/v1/cache/models', admin, async (req, res) => {
    const name = typeof req.query.model_name === 'string' ? req.query.model_name : undefined;
    const rows = await p.db.prisma.modelRegistration.findMany({ where: { source: 'custom', modelPath: { not: null }, ...(name ? { name } : {}) } });
    res.json({
      list: rows.map((r) => {
        const spec = (r.spec as unknown as ModelFamily).model_specs[0];
        return {
          model_name: r.name,
          model_format: spec?.model_format ?? null,
          model_size_in_billions: spec?.model_size_in_billions ?? null,
          quantization: spec?.quantizations[0] ?? null,
          model_version: null,
          path: r.modelPath,
          real_path: r.modelPath,
        };
      }),
    });
  });

  r.get('/v1/cluster/info', admin, async (_req, res) => {
    const [rows, models, replicas] = await Promise.all([workers(), p.db.prisma.modelInstance.count(), p.db.prisma.replica.groupBy({ by: ['status'], _count: { _all: true } })]);
    res.json({
      server: { ...versionInfo(), database: p.db.provider, redis: p.queues.available ? 'ok' : 'unavailable' },
      workers: rows.map((w) => ({ worker: w.id, address: w.address, status: w.status, last_heartbeat: w.lastHeartbeat.toISOString(), devices: w.devices })),
      models,
      replicas: Object.fromEntries(replicas.map((g) => [g.status, g._count._all])),
    });
  });
  return r;
}
