// Reads what workers report over Redis pub/sub and brings the database in line: a heartbeat
// registers the worker (or brings a lost one back) with its devices and syncs every replica it
// runs; replicas it runs that the database no longer has are stopped; replicas the database gave it
// that it does not run are sent again.
import type { Database } from '@pagoda/db';
import type { Logger } from 'pino';
import { WorkerReportSchema, type Heartbeat, type ReplicaReport } from '@pagoda/protocol';
import type { EventHub } from './events.ts';
import type { JobQueues } from './job-queues.ts';
import type { LogHistory } from './log-history.ts';
import { launchJob } from './launcher.ts';
import { liveOrNull, withLiveRelations } from './live-relations.ts';

const ACTIVE = ['scheduled', 'downloading', 'loading', 'ready'];

export interface ReportDeps {
  db: Database;
  queues: JobQueues;
  hub: EventHub;
  /** Where log lines are kept for the history route (left out: only published live). */
  logs?: LogHistory;
  log: Logger;
  /** Called when a replica's readiness may have changed. */
  onRoutesChanged(): void;
  /** A replica the database gave a worker, missing from its heartbeats this long, is sent again. */
  resendAfterMs: number;
}

export class ReportHandler {
  constructor(private readonly deps: ReportDeps) {}

  async handle(raw: string): Promise<void> {
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch {
      return;
    }
    const parsed = WorkerReportSchema.safeParse(data);
    if (!parsed.success) {
      this.deps.log.warn({ issues: parsed.error.issues.slice(0, 3) }, 'ignored a malformed worker report');
      return;
    }
    const report = parsed.data;
    if (report.type === 'heartbeat') await this.heartbeat(report);
    else if (report.type === 'replica') await this.replica(report.worker_id, report.replica);
    else {
      this.deps.hub.publish({ type: 'logs', model_uid: report.model_uid, replica_id: report.replica_id, lines: report.lines });
      // Kept for the history route; while Redis is away the lines still went out live.
      await this.deps.logs?.add(report.model_uid, report.replica_id, report.lines).catch((err: Error) => {
        this.deps.log.debug({ err: err.message, replica: report.replica_id }, 'log lines not kept');
      });
    }
  }

  private async heartbeat(hb: Heartbeat): Promise<void> {
    const { db } = this.deps;
    const before = await db.prisma.worker.findUnique({ where: { id: hb.worker_id } });
    const data = { host: hb.host, address: hb.address, devices: hb.devices as never, status: 'alive', lastHeartbeat: new Date() };
    await db.prisma.worker.upsert({ where: { id: hb.worker_id }, create: { id: hb.worker_id, ...data }, update: data });
    if (!before || before.status !== 'alive') {
      this.deps.log.info({ worker: hb.worker_id, address: hb.address }, before ? 'worker is back' : 'worker registered');
      this.deps.hub.publish({ type: 'worker', worker_id: hb.worker_id, status: 'alive' });
      await db.prisma.event.create({ data: { kind: 'worker', subject: hb.worker_id, message: before ? 'worker is back' : `worker registered at ${hb.address}` } });
    }
    const running = new Set<string>();
    for (const r of hb.replicas) {
      running.add(r.replica_id);
      await this.replica(hb.worker_id, r);
    }
    // Replicas placed here that the worker does not run: their job was lost (Redis restart) or the worker restarted.
    const assigned = withLiveRelations(await db.prisma.replica.findMany({ where: { workerId: hb.worker_id, status: { in: ACTIVE } }, include: { instance: true } }), 'instance');
    const cutoff = Date.now() - this.deps.resendAfterMs;
    for (const r of assigned) {
      if (running.has(r.id) || r.updatedAt.getTime() > cutoff) continue;
      this.deps.log.info({ replica: r.id, worker: hb.worker_id, model: r.instance.uid }, 'worker does not run an assigned replica; sending its launch again');
      const { count } = await db.prisma.replica.updateMany({ where: { id: r.id }, data: { status: 'scheduled', progress: 0, port: null, pid: null } });
      if (count === 0) continue; // terminated meanwhile
      if (r.status === 'ready') this.deps.onRoutesChanged();
      await this.deps.queues.launch(hb.worker_id, launchJob(r.instance, r), Date.now()).catch(() => {});
    }
  }

  private async replica(workerId: string, r: ReplicaReport): Promise<void> {
    const { db } = this.deps;
    const row = liveOrNull(await db.prisma.replica.findUnique({ where: { id: r.replica_id }, include: { instance: true } }), 'instance');
    if (!row || row.workerId !== workerId) {
      if (r.status !== 'stopped') {
        this.deps.log.info({ replica: r.replica_id, worker: workerId }, 'worker runs a replica that is not (or no longer) placed there; stopping it');
        await this.deps.queues.terminate(workerId, { kind: 'terminate', replica_id: r.replica_id, model_uid: r.model_uid }).catch(() => {});
      }
      return;
    }
    if (r.status === 'stopped') return;
    const changed = row.status !== r.status || row.port !== r.port || row.pid !== r.pid || row.restarts !== r.restarts || row.lastError !== r.last_error;
    if (!changed && Math.abs(row.progress - r.progress) < 1e-6) return;
    const [updated] = await db.prisma.$transaction([
      db.prisma.replica.updateMany({ where: { id: row.id }, data: { status: r.status, progress: r.progress, port: r.port, pid: r.pid, restarts: r.restarts, lastError: r.last_error } }),
      // 'failed' is the worker giving up (restarts exhausted, download failed): nothing runs, so the
      // memory it claimed is free for other launches. Its row stays, with the error, until terminated.
      ...(r.status === 'failed' ? [db.prisma.gpuClaim.deleteMany({ where: { replicaId: row.id } })] : []),
    ]);
    if (updated!.count === 0) return; // terminated meanwhile
    if (row.status !== r.status) {
      this.deps.hub.publish({ type: 'status', model_uid: row.instance.uid, replica_id: row.id, status: r.status, last_error: r.last_error });
      if (r.status === 'failed') await db.prisma.event.create({ data: { kind: 'replica_failed', subject: row.instance.uid, message: r.last_error ?? 'failed' } });
    }
    if (row.progress !== r.progress) this.deps.hub.publish({ type: 'progress', model_uid: row.instance.uid, replica_id: row.id, progress: r.progress, phase: r.phase });
    if (row.status !== r.status || row.port !== r.port) this.deps.onRoutesChanged();
  }
}
