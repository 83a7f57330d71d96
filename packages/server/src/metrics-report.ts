// What GET /metrics and the events socket's metrics frames report, gathered now from the database
// (replicas by state, workers), the job queues (depth per worker), the proxy's counters and the runners.
import type { Platform } from './platform.ts';
import { scrapeRunners } from './metrics.ts';

async function replicasByState(p: Platform): Promise<Map<string, number>> {
  const groups = await p.db.prisma.replica.groupBy({ by: ['status'], _count: { _all: true } });
  return new Map(groups.map((g) => [g.status, g._count._all]));
}

async function queueDepths(p: Platform): Promise<Map<string, number>> {
  const workers = await p.db.prisma.worker.findMany({ select: { id: true } });
  return p.queues.depths(workers.map((w) => w.id));
}

/** The Prometheus text of GET /metrics: the platform's own figures, then every ready runner's, labelled. */
export async function renderMetrics(p: Platform): Promise<string> {
  const [replicas, depths, runners] = await Promise.all([
    replicasByState(p),
    queueDepths(p),
    scrapeRunners(p.table.all()),
  ]);
  return p.metrics.render(replicas, depths) + runners;
}

/** The payload of one `metrics` message on /api/events. */
export async function metricsFrame(p: Platform): Promise<Record<string, unknown>> {
  const [replicas, depths] = await Promise.all([replicasByState(p), queueDepths(p)]);
  return {
    replicas: Object.fromEntries(replicas),
    ready_endpoints: p.table.all().length,
    queue_depth: Object.fromEntries(depths),
    ...p.metrics.snapshot(),
  };
}
