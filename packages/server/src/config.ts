// The server's settings, from flags and the environment, validated once at start.
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseAllowedOrigins } from '@pagoda/protocol';

export const ServerConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(9997),
  dataDir: z.string().min(1).default('./data'),
  /** file:<path> (SQLite, the default under dataDir) or postgresql://... */
  databaseUrl: z.string().min(1).optional(),
  /** Unset: a private redis-server child under dataDir. */
  redisUrl: z.string().min(1).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The admin key for management routes; with none (and no stored key) the server binds to loopback only. */
  adminKey: z.string().min(16, 'PAGODA_ADMIN_KEY must be at least 16 characters').optional(),
  /** Key prefix of BullMQ queues and the report channel (several deployments may share a Redis). */
  redisPrefix: z.string().min(1).default('pagoda'),
  reconcileMs: z.coerce.number().int().min(50).default(2_000),
  /** A worker silent this long is lost: its replicas are placed elsewhere. */
  workerLostMs: z.coerce.number().int().min(100).default(15_000),
  /** A lost worker leaves the cluster view after this long. */
  workerRemoveMs: z.coerce.number().int().min(100).default(300_000),
  /** A replica placed on a worker that does not report it this long is sent again. */
  resendAfterMs: z.coerce.number().int().min(100).default(10_000),
  /** How often /api/events sends a metrics message to connected dashboards. */
  eventsMetricsMs: z.coerce.number().int().min(100).default(5_000),
  /** Web origins whose pages may call the OpenAI routes (CORS); none unless set (PAGODA_ALLOWED_ORIGINS). */
  allowedOrigins: z.array(z.string().min(1)).default([]),
});
export type ServerConfigInput = z.input<typeof ServerConfigSchema>;
export type ServerConfig = z.output<typeof ServerConfigSchema> & { databaseUrl: string; dataDir: string };

export function resolveServerConfig(input: ServerConfigInput, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parsed = ServerConfigSchema.parse({
    host: input.host ?? env.PAGODA_HOST,
    port: input.port ?? env.PAGODA_PORT,
    dataDir: input.dataDir ?? env.PAGODA_DATA_DIR,
    databaseUrl: input.databaseUrl ?? env.DATABASE_URL,
    redisUrl: input.redisUrl ?? env.REDIS_URL,
    logLevel: input.logLevel ?? env.PAGODA_LOG_LEVEL,
    adminKey: input.adminKey ?? env.PAGODA_ADMIN_KEY,
    redisPrefix: input.redisPrefix ?? env.PAGODA_REDIS_PREFIX,
    reconcileMs: input.reconcileMs ?? env.PAGODA_RECONCILE_MS,
    workerLostMs: input.workerLostMs ?? env.PAGODA_WORKER_LOST_MS,
    workerRemoveMs: input.workerRemoveMs ?? env.PAGODA_WORKER_REMOVE_MS,
    resendAfterMs: input.resendAfterMs,
    eventsMetricsMs: input.eventsMetricsMs ?? env.PAGODA_EVENTS_METRICS_MS,
    allowedOrigins: input.allowedOrigins ?? (env.PAGODA_ALLOWED_ORIGINS ? parseAllowedOrigins(env.PAGODA_ALLOWED_ORIGINS) : undefined),
  });
  const dataDir = resolve(parsed.dataDir);
  return { ...parsed, dataDir, databaseUrl: parsed.databaseUrl ?? `file:${resolve(dataDir, 'pagoda.db')}` };
}
