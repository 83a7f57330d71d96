// Starts the supervisor: database (migrated), Redis (given or private), the report subscriber, the
// reconcile loop, the HTTP app and the events socket; and stops them in reverse order.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { openDatabase } from '@pagoda/db';
import { reportChannel } from '@pagoda/protocol';
import { createApp } from './app.ts';
import { Auth, bearer } from './auth.ts';
import { resolveServerConfig, type ServerConfigInput } from './config.ts';
import { resolveRedis } from './embedded-redis.ts';
import { EventHub } from './events.ts';
import { JobQueues } from './job-queues.ts';
import { Launcher } from './launcher.ts';
import { PlatformMetrics } from './metrics.ts';
import { metricsFrame } from './metrics-report.ts';
import type { Platform } from './platform.ts';
import { Reconciler } from './reconcile.ts';
import { LogHistory } from './log-history.ts';
import { ReportHandler } from './reports.ts';
import { RouteTable } from './route-table.ts';

export interface RunningServer {
  url: string;
  /** The address it listens on (127.0.0.1 when no key is configured, whatever was asked). */
  host: string;
  redisUrl: string;
  databaseUrl: string;
  platform: Platform;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** How long close() waits for a reconcile pass in flight, and then for the database to close. */
const PASS_GRACE_MS = 2_000;
const DATABASE_GRACE_MS = 1_000;

/** Whether `p` settles within `ms` (its rejection counts as settled: shutdown goes on either way). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<'settled' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const done = p.then(() => 'settled' as const, () => 'settled' as const);
  const out = await Promise.race([done, timeout]);
  clearTimeout(timer);
  return out;
}

export async function startServer(input: ServerConfigInput = {}, logger?: Logger): Promise<RunningServer> {
  const config = resolveServerConfig(input);
  const log = logger ?? pino({ name: 'pagoda-server', level: config.logLevel });
  const db = await openDatabase(config.databaseUrl);
  const redisHandle = await resolveRedis(config.redisUrl, config.dataDir).catch(async (err) => {
    await db.close();
    throw err;
  });
  // The server keeps answering while Redis is away: commands fail fast instead of queueing forever.
  const redis = new Redis(redisHandle.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  await redis.connect().catch((err: Error) => log.warn({ err: err.message, url: redisHandle.url }, 'redis not reachable yet'));

  const hub = new EventHub();
  const logs = new LogHistory(redis, config.redisPrefix);
  const metrics = new PlatformMetrics();
  const table = new RouteTable();
  const queues = new JobQueues(redisHandle.url, config.redisPrefix, redis);
  const launcher = new Launcher(db, queues, metrics);
  const reconciler = new Reconciler({ db, queues, table, hub, log }, { intervalMs: config.reconcileMs, lostAfterMs: config.workerLostMs, removeAfterMs: config.workerRemoveMs });
  const platform: Platform = { db, redis, log, queues, launcher, reconciler, table, hub, logs, metrics };

  // Reports are applied one at a time, in arrival order, so a worker's updates never race each other.
  const reports = new ReportHandler({ db, queues, hub, logs, log, resendAfterMs: config.resendAfterMs, onRoutesChanged: () => void reconciler.refreshRoutes() });
  const subscriber = new Redis(redisHandle.url, { maxRetriesPerRequest: null });
  subscriber.on('error', (err) => log.debug({ err: err.message }, 'redis subscriber error'));
  let chain = Promise.resolve();
  subscriber.on('message', (_channel, message: string) => {
    chain = chain.then(() => reports.handle(message)).catch((err: Error) => log.warn({ err: err.message }, 'report not applied'));
  });
  await subscriber.subscribe(reportChannel(config.redisPrefix)).catch((err: Error) => log.warn({ err: err.message }, 'not subscribed to worker reports yet'));

  const auth = new Auth(db, config.adminKey);
  let host = config.host;
  if (await auth.persistEnabled()) {
    if (!(await auth.hasAdminKey())) log.error('auth is on but no admin key exists: management routes refuse every caller; restart with PAGODA_ADMIN_KEY=<a secret of 16+ characters> to recover');
  } else if (!LOOPBACK.has(host)) {
    log.warn({ requested: host }, `no API key is configured (PAGODA_ADMIN_KEY or a stored key): listening on 127.0.0.1 only, not ${host}; set PAGODA_ADMIN_KEY to serve other machines`);
    host = '127.0.0.1';
  } else log.info('no API key is configured: every route is open, and the server listens on loopback only');
  auth.loopbackOnly = LOOPBACK.has(host);

  const app = createApp({ db, redis, log, platform, auth, allowedOrigins: config.allowedOrigins });
  const http = app.listen(config.port, host);
  await once(http, 'listening');
  hub.attach(
    http,
    async (req) => {
      if (await auth.open()) return 200;
      const principal = await auth.identify(bearer({ headers: req.headers, query: Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams) } as never));
      return !principal ? 401 : principal.scope === 'admin' ? 200 : 403;
    },
    async () => ({ type: 'metrics', data: await metricsFrame(platform) }),
  );
  const metricsTimer = setInterval(() => {
    if (hub.listeners === 0) return;
    void metricsFrame(platform).then((data) => hub.publish({ type: 'metrics', data }), () => {});
  }, config.eventsMetricsMs);
  reconciler.start();

  const { port } = http.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown === '0.0.0.0' ? '127.0.0.1' : shown}:${port}`;
  log.info({ url, database: db.provider, redis: redisHandle.embedded ? 'embedded' : 'external' }, 'pagoda server listening');

  return {
    url,
    host,
    redisUrl: redisHandle.url,
    databaseUrl: config.databaseUrl,
    platform,
    async close() {
      clearInterval(metricsTimer);
      await reconciler.stop(PASS_GRACE_MS);
      hub.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await chain;
      subscriber.disconnect();
      await queues.close();
      redis.disconnect();
      await redisHandle.stop();
      // A query still in flight (a reconcile pass cut short) holds the pool open: do not wait on it.
      if ((await settlesWithin(db.close(), DATABASE_GRACE_MS)) === 'timeout') log.warn(`the database did not close within ${DATABASE_GRACE_MS} ms (a query in flight); leaving it to process exit`);
    },
  };
}
