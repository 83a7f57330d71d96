// A small cluster for tests that need a launched model: a private Redis, a server on SQLite and one
// `pagoda worker` process with a declared GPU (its runners use the CPU engine), plus JSON helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerConfigInput } from '../src/index.ts';
import {
  GiB,
  PrivateRedis,
  startWorkerProcess,
  waitFor,
  type WorkerProcess,
} from './platform-helpers.ts';

export const TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}";

/** A parsed JSON body or event message: tests read the fields they expect and assertions check them. */
export type Body = any;

export interface OneWorkerCluster {
  server: RunningServer;
  worker: WorkerProcess;
  redis: PrivateRedis;
  dataDir: string;
  api(
    method: string,
    path: string,
    body?: unknown,
    key?: string,
  ): Promise<{ status: number; json: Body }>;
  close(): Promise<void>;
}

export async function startOneWorkerCluster(
  name: string,
  settings: Partial<ServerConfigInput> = {},
): Promise<OneWorkerCluster> {
  const redis = await PrivateRedis.create();
  const dataDir = mkdtempSync(join(tmpdir(), `pagoda-${name}-`));
  const prefix = `${name}${Date.now().toString(36)}`;
  const server = await startServer({
    port: 0,
    dataDir,
    databaseUrl: `file:${join(dataDir, 'pagoda.db')}`,
    redisUrl: redis.url,
    redisPrefix: prefix,
    logLevel: 'silent',
    reconcileMs: 250,
    ...settings,
  });
  const worker = startWorkerProcess({
    server: server.url,
    redis: redis.url,
    name: 'w1',
    prefix,
    devices: [{ name: 'declared', memory_total: 8 * GiB }],
  });
  const api = async (method: string, path: string, body?: unknown, key?: string) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers.authorization = `Bearer ${key}`;
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Body = text;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON (e.g. /metrics): the text itself
    }
    return { status: res.status, json };
  };
  const close = async () => {
    await worker.kill('SIGTERM');
    await server.close();
    await redis.kill();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'the worker to register',
      async () => {
        const w = await server.platform.db.prisma.worker.findUnique({ where: { id: 'w1' } });
        return w?.status === 'alive';
      },
      30_000,
    );
  } catch (err) {
    // Leave no processes behind when the cluster never came up; say what the worker printed.
    const output = worker.output();
    await close();
    throw new Error(`${(err as Error).message}; worker output:\n${output}`, { cause: err });
  }
  return { server, worker, redis, dataDir, api, close };
}
