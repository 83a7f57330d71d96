// The worker's settings, from flags and the environment, validated once at start.
import { hostname, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX, WorkerIdSchema } from '@pagoda/protocol';
import { splitExtraArgs } from './runner-command.ts';

export const WorkerConfigSchema = z.object({
  serverUrl: z.string().url('give --server as a URL, e.g. http://127.0.0.1:9997'),
  redisUrl: z.string().regex(/^rediss?:\/\//, 'give --redis as a redis:// URL, e.g. redis://127.0.0.1:6379'),
  name: WorkerIdSchema.optional(),
  /** JSON inventory of GPUs to declare (GPU-less machines; runners then use the CPU engine). */
  devices: z.string().optional(),
  /** Address runners bind to. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Address the server reaches runners on (default: host, or this machine's first IPv4 when host is 0.0.0.0). */
  address: z.string().min(1).optional(),
  prefix: z.string().min(1).default(DEFAULT_REDIS_PREFIX),
  heartbeatMs: z.number().int().min(100).default(2_000),
  /** Where downloaded checkpoints go (default: PAGODA_MODEL_CACHE, else ~/.cache/pagoda/models). */
  cacheDir: z.string().min(1).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  runnerCommand: z.array(z.string().min(1)).min(1).optional(),
  extraArgs: z.array(z.string()).default([]),
  maxRestarts: z.number().int().min(0).default(5),
  backoffMs: z.number().int().min(0).default(1_000),
});
export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;
export type WorkerConfig = z.output<typeof WorkerConfigSchema> & { name: string; address: string };

function firstIpv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Hostnames may hold characters queue names cannot; keep the safe ones. */
export function defaultWorkerName(): string {
  return hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'worker';
}

export function resolveWorkerConfig(input: Partial<WorkerConfigInput>, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = WorkerConfigSchema.parse({
    ...input,
    serverUrl: input.serverUrl ?? env.PAGODA_SERVER_URL,
    redisUrl: input.redisUrl ?? env.REDIS_URL,
    name: input.name ?? env.PAGODA_WORKER_NAME,
    devices: input.devices ?? env.PAGODA_DEVICES,
    prefix: input.prefix ?? env.PAGODA_REDIS_PREFIX,
    extraArgs: input.extraArgs ?? splitExtraArgs(env.PAGODA_RUNNER_EXTRA_ARGS),
  });
  const address = parsed.address ?? (parsed.host === '0.0.0.0' || parsed.host === '::' ? firstIpv4() : parsed.host);
  return { ...parsed, name: parsed.name ?? defaultWorkerName(), address, cacheDir: parsed.cacheDir === undefined ? undefined : resolve(parsed.cacheDir) };
}
