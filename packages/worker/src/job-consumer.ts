// Consumes this worker's own BullMQ queue: launch and terminate jobs from the server, handed to the
// replica manager. A launch job completes once the replica is accepted; its start is reported separately.
import { UnrecoverableError, Worker as QueueWorker, type ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import { WorkerJobSchema, workerQueueName } from '@pagoda/protocol';
import type { ReplicaManager } from './replica-manager.ts';

export function consumeJobs(workerId: string, connection: ConnectionOptions, prefix: string, replicaManager: ReplicaManager, log: Logger): QueueWorker {
  const consumer = new QueueWorker(
    workerQueueName(workerId),
    async (job) => {
      const parsed = WorkerJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`job ${job.id} is not a launch or terminate job: ${parsed.error.message}`);
      const data = parsed.data;
      log.info({ job: job.id, kind: data.kind, replica: data.replica_id, model: data.model_uid }, 'job received');
      if (data.kind === 'launch') replicaManager.launch(data);
      else await replicaManager.terminate(data.replica_id);
      return { ok: true };
    },
    { connection, prefix, concurrency: 8, autorun: true },
  );
  consumer.on('error', (err) => log.debug({ err: err.message }, 'queue connection error'));
  consumer.on('failed', (job, err) => log.warn({ job: job?.id, err: err.message }, 'job failed'));
  return consumer;
}
