// The desired-state loop: workers silent too long are marked lost (not while Redis itself is away)
// and later dropped from the cluster view; replicas on lost workers are replaced elsewhere; each
// instance gets replicas up to its desired count and a status from its replicas; the route table is
// rebuilt from the ready replicas.
import type { Database } from '@pagoda/db';
import type { Logger } from 'pino';
import { newRunnerSecret } from './auth.ts';
import type { EventHub } from './events.ts';
import type { JobQueues } from './job_queues.ts';
import { normalizeEngine } from './catalog/index.ts';
import { instanceStatus } from './instance_status.ts';
import { launchJob, placementInput, type InstanceParams } from './launcher.ts';
import { placementTransaction, placeOnCluster, recordClaims } from './placement.ts';
import { withLiveRelations } from './live_relations.ts';
import type { Endpoint, RouteTable } from './route_table.ts';

export interface ReconcileOptions {
  intervalMs: number;
  /** Silence after which a worker is lost and its replicas are rescheduled. */
  lostAfterMs: number;
  /** Silence after which a lost worker leaves the cluster view. */
  removeAfterMs: number;
}

export interface ReconcileDeps {
  db: Database;
  queues: JobQueues;
  table: RouteTable;
  hub: EventHub;
  log: Logger;
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  /** Set by stop(): no pass is scheduled or started after it, and a pass in flight ends at its next step. */
  private stopped = false;
  /** Lost-worker detection resumes only this long after Redis came back: workers need a beat to reconnect. */
  private quietUntil = 0;
  private redisWasDown = false;

  constructor(
    private readonly deps: ReconcileDeps,
    private readonly opts: ReconcileOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.quietUntil = Date.now() + this.opts.lostAfterMs;
    const tick = () => {
      // A pass that was in flight when stop() came must not schedule the next one.
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.runOnce().finally(tick), this.opts.intervalMs);
    };
    void this.runOnce().finally(tick);
  }

  /**
   * Stops scheduling and waits for the pass in flight, at most `graceMs`: a pass stuck on a slow
   * database or Redis must not hold a shutdown for minutes (what it did not finish, the next start does).
   */
  async stop(graceMs = 2_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const inFlight = this.running;
    if (!inFlight) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([inFlight, grace]);
    clearTimeout(timer);
  }

  /** One pass; concurrent callers share it. After stop() there are no more passes. */
  runOnce(): Promise<void> {
    if (this.stopped) return this.running ?? Promise.resolve();
    this.running ??= this.pass()
      .catch((err: Error) => this.deps.log.warn({ err: err.message }, 'reconcile pass failed'))
      .finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<void> {
    const redisUp = this.deps.queues.available;
    if (!redisUp) this.redisWasDown = true;
    else if (this.redisWasDown) {
      this.redisWasDown = false;
      this.quietUntil = Date.now() + this.opts.lostAfterMs;
    }
    // Each step checks for stop() first: a shutdown waits for the step in flight, not the whole pass.
    const steps = [
      () => (redisUp && Date.now() >= this.quietUntil ? this.markLostWorkers() : undefined),
      () => this.dropGoneWorkers(),
      () => (redisUp ? this.fillInstances() : undefined),
      () => this.refreshStatuses(),
      () => this.refreshRoutes(),
    ];
    for (const step of steps) {
      if (this.stopped) return;
      await step();
    }
  }

  private async markLostWorkers(): Promise<void> {
    const { db, hub, log } = this.deps;
    const silent = await db.prisma.worker.findMany({ where: { status: 'alive', lastHeartbeat: { lt: new Date(Date.now() - this.opts.lostAfterMs) } } });
    for (const w of silent) {
      log.warn({ worker: w.id, lastHeartbeat: w.lastHeartbeat }, 'worker stopped heartbeating; marking it lost and rescheduling its replicas');
      await db.prisma.$transaction([
        db.prisma.worker.update({ where: { id: w.id }, data: { status: 'lost' } }),
        db.prisma.replica.updateMany({ where: { workerId: w.id }, data: { status: 'lost' } }),
        db.prisma.gpuClaim.deleteMany({ where: { workerId: w.id } }),
        db.prisma.event.create({ data: { kind: 'worker_lost', subject: w.id, message: `no heartbeat since ${w.lastHeartbeat.toISOString()}` } }),
      ]);
      hub.publish({ type: 'worker', worker_id: w.id, status: 'lost' });
    }
  }

  private async dropGoneWorkers(): Promise<void> {
    const { db } = this.deps;
    await db.prisma.worker.deleteMany({ where: { status: 'lost', lastHeartbeat: { lt: new Date(Date.now() - this.opts.removeAfterMs) } } });
  }

  /** Replaces lost replicas and places missing ones, one instance per transaction. */
  private async fillInstances(): Promise<void> {
    const { db, queues, log } = this.deps;
    const instances = await db.prisma.modelInstance.findMany({ include: { replicas: true } });
    for (const inst of instances) {
      if (this.stopped) return;
      const lost = inst.replicas.filter((r) => r.status === 'lost');
      const live = inst.replicas.length - lost.length;
      const missing = inst.desiredReplicas - live;
      if (missing <= 0 && lost.length === 0) continue;
      const created = await placementTransaction(db, async (tx) => {
        if (lost.length > 0) await tx.replica.deleteMany({ where: { id: { in: lost.map((r) => r.id) } } });
        if (missing <= 0) return [];
        const placement = await placeOnCluster(tx, placementInput(inst.params as unknown as InstanceParams, missing, normalizeEngine(inst.engine)));
        if (!placement.ok) {
          await tx.modelInstance.update({ where: { id: inst.id }, data: { lastError: `waiting for room to restore ${missing} replica(s): ${placement.message}` } });
          return [];
        }
        let next = Math.max(-1, ...inst.replicas.map((r) => r.index)) + 1;
        const out = [];
        for (const placed of placement.replicas) {
          const replica = await tx.replica.create({ data: { instanceId: inst.id, index: next++, workerId: placed.worker, gpuIndices: placed.gpuIndices, memoryBytes: BigInt(placed.bytes), runnerSecret: newRunnerSecret() } });
          await recordClaims(tx, replica.id, placed);
          out.push(replica);
        }
        await tx.modelInstance.update({ where: { id: inst.id }, data: { lastError: null } });
        return out;
      }).catch((err: Error) => {
        log.warn({ model: inst.uid, err: err.message }, 'could not restore replicas');
        return [];
      });
      for (const r of created) {
        log.info({ model: inst.uid, replica: r.id, worker: r.workerId }, 'placed a replacement replica');
        await queues.launch(r.workerId!, launchJob(inst, r), 0).catch(() => {});
      }
    }
  }

  private async refreshStatuses(): Promise<void> {
    const { db, hub } = this.deps;
    const instances = await db.prisma.modelInstance.findMany({ include: { replicas: { select: { status: true, lastError: true } } } });
    for (const inst of instances) {
      const status = instanceStatus(inst.desiredReplicas, inst.replicas.map((r) => r.status));
      if (status === inst.status) continue;
      const lastError = status === 'failed' ? (inst.replicas.find((r) => r.lastError)?.lastError ?? inst.lastError) : inst.lastError;
      await db.prisma.modelInstance.update({ where: { id: inst.id }, data: { status, lastError } });
      hub.publish({ type: 'status', model_uid: inst.uid, replica_id: null, status, last_error: lastError });
    }
  }

  async refreshRoutes(): Promise<void> {
    const { db, table } = this.deps;
    const rows = await db.prisma.replica.findMany({ where: { status: 'ready', port: { not: null }, worker: { status: 'alive' } }, include: { worker: true, instance: { select: { uid: true } } } });
    const ready = withLiveRelations(rows, 'worker', 'instance');
    const endpoints: Endpoint[] = ready.map((r) => ({ replicaId: r.id, modelUid: r.instance.uid, url: `http://${r.worker!.address.includes(':') ? `[${r.worker!.address}]` : r.worker!.address}:${r.port}`, secret: r.runnerSecret }));
    const launched = await db.prisma.modelInstance.findMany({ select: { uid: true, params: true, desiredReplicas: true } });
    const stopped = new Set(launched.filter((i) => i.desiredReplicas === 0).map((i) => i.uid));
    table.replace(endpoints, new Map(launched.map((i) => [i.uid, (i.params as unknown as InstanceParams).request_limits ?? null])), stopped);
  }
}
