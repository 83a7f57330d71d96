// A real server (SQLite; REDIS_URL, else its private redis-server) and one worker declaring two 24 GiB
// GPUs whose runners use the CPU engine, for the CLI's tests against the server; `name` keeps their
// Redis keys, data folder and worker apart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PagodaClient } from '@pagoda/client';
import { startServer, type RunningServer } from '@pagoda/server';
import { startWorker, type RunningWorker } from '@pagoda/worker';

const GiB = 2 ** 30;

export interface CliCluster {
  server: RunningServer;
  worker: RunningWorker;
  dataDir: string;
  workerName: string;
  close(): Promise<void>;
}

/** Starts both and waits until the worker's GPUs are listed. */
export async function startCliCluster(name: string, adminKey: string): Promise<CliCluster> {
  const prefix = `pagoda-${name}-${process.pid}`;
  const dataDir = mkdtempSync(join(tmpdir(), `pagoda-${name}-`));
  const workerName = `${name}-worker`;
  const server = await startServer({ host: '127.0.0.1', port: 0, dataDir, redisUrl: process.env.REDIS_URL, redisPrefix: prefix, adminKey, logLevel: 'silent' });
  const worker = await startWorker({
    serverUrl: server.url,
    redisUrl: server.redisUrl,
    prefix,
    name: workerName,
    devices: JSON.stringify([
      { name: 'declared 24G', memory_total: 24 * GiB },
      { name: 'declared 24G', memory_total: 24 * GiB },
    ]),
    heartbeatMs: 200,
    cacheDir: join(dataDir, 'models'),
    logLevel: 'silent',
  });
  const close = async () => {
    await worker.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  const client = new PagodaClient({ endpoint: server.url, apiKey: adminKey });
  for (let i = 0; (await client.devices()).length === 0; i++) {
    if (i === 100) {
      await close();
      throw new Error('the worker did not join');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { server, worker, dataDir, workerName, close };
}
