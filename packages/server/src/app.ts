// The server's express app: health and version, the management API (Xinference's routes), the
// OpenAI proxy, /metrics; every error in one shape.
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Database } from '@pagoda/db';
import type { Redis } from 'ioredis';
import type { Auth } from './auth.ts';
import { dashboardRoutes } from './dashboard.ts';
import { HttpError, sendError } from './http_error.ts';
import { renderMetrics } from './metrics_report.ts';
import type { Platform } from './platform.ts';
import { InFlightRequests } from './in_flight.ts';
import { isProxiedPath, PROXY_BODY_LIMIT, proxyHandler } from './proxy.ts';
import { clusterRoutes } from './routes/cluster.ts';
import { benchRoutes } from './routes/bench.ts';
import { keyRoutes } from './routes/keys.ts';
import { modelsRoutes } from './routes/models.ts';
import { planRoutes } from './routes/plan.ts';
import { registrationRoutes } from './routes/registrations.ts';
import type { InstanceParams } from './launcher.ts';
import { versionInfo } from './version.ts';

export interface AppDeps {
  db: Database;
  redis: Redis;
  log: Logger;
  /** The platform; without it only /health and /api/version are served. */
  platform?: Platform;
  auth?: Auth;
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

function mountPlatform(app: Express, p: Platform, auth: Auth): void {
  const inFlight = new InFlightRequests();
  app.use(modelsRoutes(p, auth, inFlight));
  app.use(registrationRoutes(p, auth));
  app.use(clusterRoutes(p, auth));
  app.use(planRoutes(p, auth));
  app.use(keyRoutes(p, auth));
  app.use(benchRoutes(p, auth));

  // The route table knows every launched model after its last refresh; only a uid it has not seen
  // yet (just launched, or never) costs a query. A model scaled to 0 is refused here, before routing,
  // with what it is and how to start it again (not as a launch still in progress).
  const stopped = (uid: string) =>
    new HttpError(503, `model '${uid}' is stopped: it is scaled to 0 replicas; scale it up (POST /v1/models/${uid}/replicas {"replica": 1}) to serve it again`, 'model');
  const limitOf = async (uid: string) => {
    const known = p.table.limitOf(uid);
    if (known !== undefined) {
      if (p.table.isStopped(uid)) throw stopped(uid);
      return known;
    }
    const row = await p.db.prisma.modelInstance.findUnique({ where: { uid }, select: { params: true, desiredReplicas: true } });
    if (row?.desiredReplicas === 0) throw stopped(uid);
    return row ? ((row.params as unknown as InstanceParams).request_limits ?? null) : undefined;
  };
  const inference = auth.require('inference');
  app.post('/v1/chat/completions', inference, proxyHandler('/v1/chat/completions', { table: p.table, metrics: p.metrics, log: p.log, limitOf, inFlight }));
  app.post('/v1/completions', inference, proxyHandler('/v1/completions', { table: p.table, metrics: p.metrics, log: p.log, limitOf, inFlight }));

  app.get('/metrics', auth.require('admin'), async (_req, res) => {
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.send(await renderMetrics(p));
  });
}

export function createApp({ db, redis, log, platform, auth }: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // The proxy routes read their body as bytes themselves (proxy.ts): they forward it unparsed.
  const json = express.json({ limit: PROXY_BODY_LIMIT });
  app.use((req, res, next) => (isProxiedPath(req.path) ? next() : json(req, res, next)));

  app.get('/health', async (_req, res) => {
    const [database, queue] = await Promise.all([probe(() => db.prisma.$queryRawUnsafe('SELECT 1')), probe(() => redis.ping())]);
    const ok = database === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', database, redis: queue, provider: db.provider });
  });

  app.get('/api/version', (_req, res) => {
    res.json(versionInfo());
  });

  if (platform && auth) mountPlatform(app, platform, auth);
  app.use(dashboardRoutes());

  app.use((req, _res) => {
    throw new HttpError(404, `no route for ${req.method} ${req.path}`);
  });

  // Body-parser errors (bad JSON, too large) and anything thrown reach the client in one shape.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) return sendError(res, err);
    const status = err.status ?? 500;
    if (status >= 500) log.error({ err }, 'request failed');
    const message = err.type === 'entity.parse.failed' ? `invalid JSON body: ${err.message}` : status >= 500 ? `internal error: ${err.message}` : err.message;
    sendError(res, new HttpError(status, message));
  });
  return app;
}
