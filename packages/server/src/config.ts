// The server's settings, from flags and the environment, validated once at start.
import { resolve } from 'node:path';
import { z } from 'zod';

export const ServerConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(9997),
  dataDir: z.string().min(1).default('./data'),
  /** file:<path> (SQLite, the default under dataDir) or postgresql://... */
  databaseUrl: z.string().min(1).optional(),
  /** Unset: a private redis-server child under dataDir. */
  redisUrl: z.string().min(1).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  });
  const dataDir = resolve(parsed.dataDir);
  return { ...parsed, dataDir, databaseUrl: parsed.databaseUrl ?? `file:${resolve(dataDir, 'pagoda.db')}` };
}
