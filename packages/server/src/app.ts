// The server's express app: health and version, the management API (Xinference's routes), the
// OpenAI proxy, /metrics; every error in one shape.
import { randomUUID } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Database } from '@pagoda/db';
import { clip, corsHeaders, ModelUidSchema } from '@pagoda/protocol';
import type { Redis } from 'ioredis';
import type { Auth } from './auth.ts';
import { dashboardRoutes } from './dashboard.ts';
import { rejectNulBytes } from './edge-checks.ts';
import { HttpError, sendError } from './http-error.ts';
import { renderMetrics } from './metrics-report.ts';
import type { Platform } from './platform.ts';
import { InFlightRequests } from './in-flight.ts';
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
  /** Origins allowed to call the OpenAI routes from a browser (PAGODA_ALLOWED_ORIGINS). */
  allowedOrigins?: readonly string[];
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
    new HttpError(503, `model '${uid}' is stopped: it is scaled to 0 replicas; scale it up (POST /v1/models/${uid}/replicas {"replica": 1}) to serve it again`, 'model', {}, 'model_unavailable', { params: { model: uid } });
  const limitOf = async (uid: string) => {
    // A uid that cannot exist never reaches the database (a NUL byte would be a PostgreSQL error).
    if (!ModelUidSchema.safeParse(uid).success) throw new HttpError(400, `'${clip(JSON.stringify(uid).slice(1, -1))}' is not a valid model uid; GET /v1/models lists the launched ones`, 'model', {}, 'invalid_id', { params: { value: uid, field: 'model' } });
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
  app.post('/v1/responses', inference, proxyHandler('/v1/responses', { table: p.table, metrics: p.metrics, log: p.log, limitOf }));
  // Embedding and rerank models; Cohere's and Xinference's clients post to /v1/rerank, vLLM's to /rerank and /score.
  app.post('/v1/embeddings', inference, proxyHandler('/v1/embeddings', { table: p.table, metrics: p.metrics, log: p.log, limitOf }));
  app.post(['/v1/rerank', '/rerank', '/v2/rerank'], inference, proxyHandler('/v1/rerank', { table: p.table, metrics: p.metrics, log: p.log, limitOf }));
  app.post(['/score', '/v1/score'], inference, proxyHandler('/score', { table: p.table, metrics: p.metrics, log: p.log, limitOf }));
  // vLLM's tokenizer routes, for the model the body names.
  app.post('/tokenize', inference, proxyHandler('/tokenize', { table: p.table, metrics: p.metrics, log: p.log, limitOf }));
  app.post('/detokenize', inference, proxyHandler('/detokenize', { table: p.table, metrics: p.metrics, log: p.log, limitOf }));

  app.get('/metrics', auth.require('admin'), async (_req, res) => {
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.send(await renderMetrics(p));
  });
}

export function createApp({ db, redis, log, platform, auth, allowedOrigins = [] }: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // CORS on the OpenAI routes only, for the origins the operator named: a page elsewhere may then use
  // the models (with a key where keys are on), never the management API.
  if (allowedOrigins.length > 0)
    app.use((req, res, next) => {
      if (!isProxiedPath(req.path) && req.path.replace(/\/+$/, '') !== '/v1/models') return next();
      const cors = corsHeaders(
        {
          method: req.method,
          origin: req.get('origin'),
          requestMethod: req.get('access-control-request-method'),
          requestHeaders: req.get('access-control-request-headers'),
        },
        allowedOrigins,
      );
      if (cors) res.set(cors.headers);
      if (cors?.preflight) return void res.status(204).end();
      next();
    });
  // The proxy routes read their body as bytes themselves (proxy.ts): they forward it unparsed.
  const json = express.json({ limit: PROXY_BODY_LIMIT });
  app.use((req, res, next) => (isProxiedPath(req.path) ? next() : json(req, res, next)));
  // Their prompts may hold any character; every other body is checked for NUL bytes.
  app.use((req, res, next) => (isProxiedPath(req.path) ? next() : rejectNulBytes(req, res, next)));

  app.get('/health', async (_req, res) => {
    const [database, queue] = await Promise.all([probe(() => db.prisma.$queryRawUnsafe('SELECT 1')), probe(() => redis.ping())]);
    const ok = database === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', database, redis: queue, provider: db.provider });
  });

  // /version is vLLM's path for the same answer (its clients read `version`).
  app.get(['/api/version', '/version'], (_req, res) => {
    res.json(versionInfo());
  });

  if (platform && auth) mountPlatform(app, platform, auth);
  app.use(dashboardRoutes());

  app.use((req, _res) => {
    throw new HttpError(404, `no route for ${req.method} ${clip(req.path, 200)}`, null, {}, 'route_not_found', { params: { method: req.method, path: req.path } });
  });

  // Body-parser errors (bad JSON, too large) and anything thrown reach the client in one shape. An
  // unexpected fault is logged with its detail and answered with a generic message and an id to
  // find it in the log: messages of unknown errors can carry file paths and code lines.
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const httpErr = err instanceof HttpError ? err : fromUnknownError(err, req, log);
    if (res.headersSent) return void res.destroy();
    sendError(res, httpErr);
  });
  return app;
}

/** An error the routes did not make: body-parser's 4xx kept, anything else a logged, generic 500. */
function fromUnknownError(err: Error & { status?: number; type?: string }, req: Request, log: Logger): HttpError {
  switch (err.type) {
    case 'entity.parse.failed':
      return new HttpError(400, `invalid JSON body: ${clip(err.message, 200)}`, null, {}, 'invalid_json');
    case 'entity.too.large':
      return new HttpError(413, 'the request body is larger than the 8 MB limit', null, {}, 'request_too_large', { params: { limit_mb: 8 } });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'send the body as UTF-8 JSON (Content-Type: application/json)', null, {}, 'unsupported_content_type');
  }
  const status = typeof err.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
  if (status < 500) return new HttpError(status, clip(err.message ?? 'bad request', 200));
  const id = randomUUID();
  log.error({ err, error_id: id, method: req.method, path: req.path }, 'request failed');
  return new HttpError(500, `internal error ${id}: the request failed on the server; its log has the detail under this id`, null, {}, 'internal_error', { params: { id } });
}
