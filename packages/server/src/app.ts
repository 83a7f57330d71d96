// The server's express app: health and version now; the management API, the OpenAI proxy and the
// events socket mount here as the platform grows.
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Database } from '@pagoda/db';
import { versionInfo } from './version.ts';

export interface AppDeps {
  db: Database;
  redis: Redis;
  log: Logger;
}

async function probe(check: () => Promise<unknown>, ms = 1_000): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)));
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch {
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

export function createApp({ db, redis, log }: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '8mb' }));

  app.get('/health', async (_req, res) => {
    const [database, queue] = await Promise.all([probe(() => db.prisma.$queryRawUnsafe('SELECT 1')), probe(() => redis.ping())]);
    const ok = database === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', database, redis: queue, provider: db.provider });
  });

  app.get('/api/version', (_req, res) => {
    res.json(versionInfo());
  });

  app.use((req, res) => {
    res.status(404).json({ error: { message: `no route for ${req.method} ${req.path}`, type: 'not_found', param: null, code: 404 } });
  });

  // Body-parser errors (bad JSON, too large) and anything thrown reach the client in one shape.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status ?? 500;
    if (status >= 500) log.error({ err }, 'request failed');
    const message = err.type === 'entity.parse.failed' ? `invalid JSON body: ${err.message}` : err.message;
    res.status(status).json({ error: { message, type: status >= 500 ? 'internal_error' : 'invalid_request_error', param: null, code: status } });
  });
  return app;
}
