// The supervisor process: REST, proxy, database, queue producer, events.
export { startServer, type RunningServer } from './server.ts';
export { createApp } from './app.ts';
export { resolveServerConfig, type ServerConfig, type ServerConfigInput } from './config.ts';
export { resolveRedis, startEmbeddedRedis, findRedisServer, freeLoopbackPort, REDIS_INSTALL_HINT, type RedisHandle } from './embedded-redis.ts';
export { versionInfo } from './version.ts';
