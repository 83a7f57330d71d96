// The contract between the server and its workers over Redis: one BullMQ queue per worker for
// launch / terminate jobs, and one pub/sub channel for what workers report back (heartbeats with
// the device inventory and every replica's state, replica updates, log lines).
import { z } from 'zod';
import { REPLICA_STATES } from './management.ts';

/** Worker names become queue names and Redis keys. */
export const WorkerIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, ".", "_" and "-" only, starting with a letter or digit');

/** BullMQ queue a worker consumes. Names may not contain ':' (BullMQ uses it in keys). */
export function workerQueueName(workerId: string): string {
  return `pagoda-worker-${workerId}`;
}

/** The pub/sub channel workers publish reports on, under the deployment's key prefix. */
export function reportChannel(prefix: string): string {
  return `${prefix}:reports`;
}

/** The default key prefix for BullMQ queues and channels; tests use their own to stay apart. */
export const DEFAULT_REDIS_PREFIX = 'pagoda';

/** One device as a worker sees it. The CPU is always listed, with index -1. */
export const DeviceSchema = z.object({
  kind: z.enum(['gpu', 'cpu']),
  index: z.number().int().min(-1),
  name: z.string(),
  memory_total: z.number().nonnegative(),
  memory_used: z.number().nonnegative(),
  utilization: z.number().min(0).max(100),
  /** True for an inventory declared with --devices (no real GPU behind it: runners use the CPU engine). */
  declared: z.boolean().default(false),
});
export type Device = z.infer<typeof DeviceSchema>;
export const CPU_DEVICE_INDEX = -1;

/** What --devices accepts: GPUs to pretend, e.g. [{"name":"H100","memory_total":85899345920}]. */
export const DeclaredDevicesSchema = z
  .array(
    z
      .object({
        index: z.number().int().min(0).optional(),
        name: z.string().min(1).default('declared GPU'),
        memory_total: z.number().positive(),
        memory_used: z.number().nonnegative().default(0),
      })
      .strict(),
  )
  .max(64);

/** The model files a launch needs: a local folder, or a hub repo to download first. */
export const ModelSourceSchema = z.object({
  model_path: z.string().nullable(),
  hf_repo_id: z.string().nullable(),
  revision: z.string().nullable().default(null),
});

export const LaunchJobSchema = z.object({
  kind: z.literal('launch'),
  replica_id: z.string().min(1),
  model_uid: z.string().min(1),
  /** The catalog or registration name the instance was launched from (for advice that names it). */
  model_name: z.string().min(1).optional(),
  replica_index: z.number().int().min(0),
  engine: z.string(),
  source: ModelSourceSchema,
  /** GPU indices on this worker; empty = the CPU engine. */
  gpu_idx: z.array(z.number().int().min(0)),
  engine_kwargs: z.record(z.string(), z.unknown()),
  /** The bearer secret the runner must require (PAGODA_SERVE_API_KEY in its environment, never argv). */
  runner_secret: z.string().min(16).nullable().optional(),
});
export type LaunchJob = z.infer<typeof LaunchJobSchema>;

export const TerminateJobSchema = z.object({
  kind: z.literal('terminate'),
  replica_id: z.string().min(1),
  model_uid: z.string(),
});
export type TerminateJob = z.infer<typeof TerminateJobSchema>;

export const WorkerJobSchema = z.discriminatedUnion('kind', [LaunchJobSchema, TerminateJobSchema]);
export type WorkerJob = z.infer<typeof WorkerJobSchema>;

/** One replica as its worker last saw it. */
export const ReplicaReportSchema = z.object({
  replica_id: z.string(),
  model_uid: z.string(),
  status: z.enum(REPLICA_STATES),
  /** 0..1 over the whole start: download, load, warm-up. */
  progress: z.number().min(0).max(1),
  phase: z.string().nullable(),
  pid: z.number().int().nullable(),
  port: z.number().int().nullable(),
  restarts: z.number().int().min(0),
  last_error: z.string().nullable(),
});
export type ReplicaReport = z.infer<typeof ReplicaReportSchema>;

export const HeartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  worker_id: WorkerIdSchema,
  host: z.string(),
  /** Where the server reaches this worker's runners. */
  address: z.string(),
  devices: z.array(DeviceSchema),
  replicas: z.array(ReplicaReportSchema),
  started_at: z.string(),
  sent_at: z.string(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

export const ReplicaUpdateSchema = z.object({
  type: z.literal('replica'),
  worker_id: WorkerIdSchema,
  replica: ReplicaReportSchema,
});
export type ReplicaUpdate = z.infer<typeof ReplicaUpdateSchema>;

export const LogLinesSchema = z.object({
  type: z.literal('logs'),
  worker_id: WorkerIdSchema,
  replica_id: z.string(),
  model_uid: z.string(),
  lines: z.array(z.string()),
});
export type LogLines = z.infer<typeof LogLinesSchema>;

export const WorkerReportSchema = z.discriminatedUnion('type', [HeartbeatSchema, ReplicaUpdateSchema, LogLinesSchema]);
export type WorkerReport = z.infer<typeof WorkerReportSchema>;
