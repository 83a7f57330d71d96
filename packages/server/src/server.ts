// Starts the supervisor: database (migrated), Redis (given or private), the HTTP app; and stops
// them in reverse order.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pino from 'pino';
import { openDatabase } from '@pagoda/db';
import { createApp } from './app.ts';
import { resolveServerConfig, type ServerConfigInput } from './config.ts';
import { resolveRedis } from './embedded_redis.ts';

export interface RunningServer {
  url: string;
  redisUrl: string;
  databaseUrl: string;
  close(): Promise<void>;
}

export async function startServer(input: ServerConfigInput = {}): Promise<RunningServer> {
  const config = resolveServerConfig(input);
  const log = pino({ name: 'pagoda-server', level: config.logLevel });
  const db = await openDatabase(config.databaseUrl);
  const redisHandle = await resolveRedis(config.redisUrl, config.dataDir).catch(async (err) => {
    await db.close();
    throw err;
  });
  // The server keeps answering while Redis is away: commands fail fast instead of queueing forever.
  const redis = new Redis(redisHandle.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  await redis.connect().catch((err: Error) => log.warn({ err: err.message, url: redisHandle.url }, 'redis not reachable yet'));

  const app = createApp({ db, redis, log });
  const http = app.listen(config.port, config.host);
  await once(http, 'listening');
  const { port } = http.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  log.info({ url, database: db.provider, redis: redisHandle.embedded ? 'embedded' : 'external' }, 'pagoda server listening');

  return {
    url,
    redisUrl: redisHandle.url,
    databaseUrl: config.databaseUrl,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      redis.disconnect();
      await redisHandle.stop();
      await db.close();
    },
  };
}
