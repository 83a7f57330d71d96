// Starts a worker (host agent): finds its devices, heartbeats through Redis, consumes its own queue
// and runs the replicas the server places here; close() stops runners and connections in order.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { reportChannel, type Device } from '@pagoda/protocol';
import { resolveWorkerConfig, type WorkerConfigInput } from './config.ts';
import { discoverDevices, parseDeclaredDevices } from './devices.ts';
import { Heartbeater } from './heartbeat.ts';
import { consumeJobs } from './job-consumer.ts';
import { ReplicaManager } from './replica-manager.ts';

export interface RunningWorker {
  id: string;
  replicaManager: ReplicaManager;
  close(): Promise<void>;
}

async function checkServer(url: string, log: Logger): Promise<void> {
  try {
    const res = await fetch(new URL('/health', url), { signal: AbortSignal.timeout(3_000) });
    await res.body?.cancel();
    log.info({ server: url, status: res.status }, 'server reachable');
  } catch (err) {
    log.warn({ server: url, err: (err as Error).message }, 'server not reachable now; registering through Redis anyway');
  }
}

export async function startWorker(input: Partial<WorkerConfigInput>, logger?: Logger): Promise<RunningWorker> {
  const config = resolveWorkerConfig(input);
  const log = logger ?? pino({ name: 'pagoda-worker', level: config.logLevel });
  const declared: Device[] | null = config.devices ? parseDeclaredDevices(config.devices) : null;
  if (declared) log.info({ gpus: declared.length }, 'using the declared device inventory; runners use the CPU engine');

  const replicaManager = new ReplicaManager({
    host: config.host,
    cacheDir: config.cacheDir,
    declaredGpus: declared !== null,
    log,
    runnerCommand: config.runnerCommand,
    extraArgs: config.extraArgs,
    maxRestarts: config.maxRestarts,
    backoffMs: config.backoffMs,
  });
  // Reports fail fast while Redis is away (the next heartbeat resends the state); jobs wait for it.
  const publisher = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  publisher.on('error', (err) => log.debug({ err: err.message }, 'redis publisher error'));
  const identity = { worker_id: config.name, host: hostname(), address: config.address, started_at: new Date().toISOString() };
  const heart = new Heartbeater(publisher, reportChannel(config.prefix), identity, replicaManager, () => discoverDevices(declared), config.heartbeatMs, log);
  const consumer = consumeJobs(config.name, { url: config.redisUrl, maxRetriesPerRequest: null }, config.prefix, replicaManager, log);
  await checkServer(config.serverUrl, log);
  await heart.start();
  log.info({ worker: config.name, address: config.address, redis: config.redisUrl }, 'pagoda worker running');

  return {
    id: config.name,
    replicaManager,
    async close() {
      await consumer.close(true).catch(() => {});
      await replicaManager.stopAll();
      // One last heartbeat with no replicas, so the server learns of the stop before the timeout.
      await publisher.publish(reportChannel(config.prefix), JSON.stringify(heart.heartbeat())).catch(() => {});
      heart.stop();
      publisher.disconnect();
    },
  };
}
