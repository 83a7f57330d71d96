// The producer side of the worker contract: one BullMQ queue per worker, jobs with ids derived from
// the replica so a re-sent job for the same replica and attempt is not queued twice.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { workerQueueName, type LaunchJob, type TerminateJob } from '@pagoda/protocol';
import { HttpError } from './http-error.ts';

export class JobQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    /** The server's fail-fast connection: tells whether Redis is there right now. */
    private readonly probe: Redis,
  ) {}

  get available(): boolean {
    return this.probe.status === 'ready';
  }

  /** Throws 503 when Redis is away, before a route changes anything. */
  assertAvailable(): void {
    if (!this.available) throw new HttpError(503, 'the job queue (Redis) is unreachable; ready models keep serving — retry management calls when Redis is back');
  }

  private queue(workerId: string): Queue {
    let q = this.queues.get(workerId);
    if (!q) {
      q = new Queue(workerQueueName(workerId), { connection: { url: this.redisUrl, maxRetriesPerRequest: 1, enableOfflineQueue: false }, prefix: this.prefix });
      q.on('error', () => {});
      this.queues.set(workerId, q);
    }
    return q;
  }

  async launch(workerId: string, job: LaunchJob, attempt: number): Promise<void> {
    await this.queue(workerId).add('launch', job, { jobId: `launch-${job.replica_id}-${attempt}`, removeOnComplete: true, removeOnFail: 100, attempts: 3, backoff: { type: 'fixed', delay: 500 } });
  }

  async terminate(workerId: string, job: TerminateJob): Promise<void> {
    await this.queue(workerId).add('terminate', job, { jobId: `terminate-${job.replica_id}-${Date.now()}`, removeOnComplete: true, removeOnFail: 100, attempts: 3, backoff: { type: 'fixed', delay: 500 } });
  }

  /** Jobs waiting in each worker's queue (every worker named, not only those this process sent to). */
  async depths(workerIds: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!this.available) return out;
    for (const id of new Set([...workerIds, ...this.queues.keys()])) {
      const n = await this.queue(id).count().catch(() => null);
      if (n !== null) out.set(id, n);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => {})));
  }
}
