// Ids and NUL bytes are checked at the edge: a NUL byte in a model name or uid, a registration name,
// a key name or a benchmark id is a 400 in the error shape before any query (PostgreSQL refuses NUL
// in text), nothing is written; and an unexpected fault answers a generic 500 with no stack or
// file path, its detail in the server log. On SQLite and on PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, reportChannel, workerQueueName } from '@pagoda/protocol';
import { createScratchDatabase } from '../../db/test/pg.ts';
import { startServer, type RunningServer } from '../src/index.ts';
import type { Body } from './one_worker_cluster.ts';
import { GiB, leaksInternals, STORIES, waitFor } from './platform_helpers.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const NUL = '\0';

type Case = [method: string, path: string, body: unknown, status: number, code: string];
const CASES: Case[] = [
  ['POST', '/v1/models', { model_name: `stor${NUL}ies` }, 400, 'nul_byte'],
  ['POST', '/v1/models', { model_name: 'stories', model_uid: `a${NUL}b` }, 400, 'nul_byte'],
  ['POST', '/v1/models', { model_name: 'stories', quantization: `q${NUL}` }, 400, 'nul_byte'],
  ['POST', '/v1/models', { model_name: 'stories', [`x${NUL}`]: 1 }, 400, 'nul_byte'],
  ['POST', '/v1/models', { model_name: '../../etc/passwd' }, 400, 'invalid_request'],
  ['POST', '/api/plan', { model_name: `x${NUL}` }, 400, 'nul_byte'],
  ['GET', '/v1/models/a%00b', undefined, 400, 'nul_byte'],
  ['GET', '/v1/models/..%2F..%2Fetc%2Fpasswd', undefined, 400, 'invalid_id'],
  ['GET', '/v1/models?all=%00', undefined, 400, 'nul_byte'],
  ['POST', '/v1/model_registrations/LLM', { model_name: `r${NUL}`, model_path: STORIES }, 400, 'nul_byte'],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'r', model_path: STORIES, chat_template: `{{ x }}${NUL}` }, 400, 'nul_byte'],
  ['POST', '/v1/model_registrations/LLM', { model: JSON.stringify({ model_name: 'r', model_path: STORIES, chat_template: `t${NUL}` }) }, 400, 'nul_byte'],
  ['GET', '/v1/model_registrations/LLM/r%00', undefined, 400, 'nul_byte'],
  ['DELETE', '/v1/model_registrations/LLM/r%00', undefined, 400, 'nul_byte'],
  ['DELETE', '/v1/model_registrations/LLM/..%2F..', undefined, 400, 'invalid_id'],
  ['GET', '/v1/engines/e%00', undefined, 400, 'nul_byte'],
  ['POST', '/api/keys', { name: `k${NUL}`, scope: 'admin' }, 400, 'nul_byte'],
  ['DELETE', '/api/keys/k%00', undefined, 400, 'nul_byte'],
  ['DELETE', '/api/keys/has%20space', undefined, 400, 'invalid_id'],
  ['GET', '/api/bench/b%00', undefined, 400, 'nul_byte'],
  ['GET', '/api/bench/not-a-run-id', undefined, 400, 'invalid_id'],
  ['DELETE', '/api/bench/not-a-run-id', undefined, 400, 'invalid_id'],
  ['GET', '/api/bench/00000000-0000-4000-8000-000000000000', undefined, 404, 'benchmark_not_found'],
  ['POST', '/api/bench', { model_uid: `m${NUL}` }, 400, 'nul_byte'],
  ['POST', '/v1/chat/completions', { model: `m${NUL}`, messages: [{ role: 'user', content: 'hi' }] }, 400, 'invalid_id'],
  ['POST', '/v1/completions', { model: 'm'.repeat(2_000_000), prompt: 'x' }, 400, 'invalid_id'],
];

describe.each(['sqlite', 'postgresql'] as const)('the edge on %s', (provider) => {
  const dataDir = mkdtempSync(join(tmpdir(), `pagoda-edge-${provider}-`));
  const prefix = `edge${provider}${Date.now().toString(36)}`;
  const logs: Body[] = [];
  let server: RunningServer;
  let dropDatabase = async () => {};

  const counts = async () => {
    const p = server.platform.db.prisma;
    return { instances: await p.modelInstance.count(), replicas: await p.replica.count(), registrations: await p.modelRegistration.count(), keys: await p.apiKey.count(), events: await p.event.count() };
  };

  beforeAll(async () => {
    let databaseUrl = `file:${join(dataDir, 'p.db')}`;
    if (provider === 'postgresql') {
      const scratch = await createScratchDatabase('pagoda_edge');
      databaseUrl = scratch.url;
      dropDatabase = scratch.drop;
    }
    const log = pino({ level: 'error' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    server = await startServer({ port: 0, dataDir, databaseUrl, redisUrl: REDIS_URL, redisPrefix: prefix, reconcileMs: 60_000, workerLostMs: 600_000 }, log);
    const pub = new Redis(REDIS_URL);
    await pub.publish(
      reportChannel(prefix),
      JSON.stringify({
        type: 'heartbeat',
        worker_id: 'only',
        host: 'test',
        address: '127.0.0.1',
        devices: [{ kind: 'gpu', index: 0, name: 'declared', memory_total: 8 * GiB, memory_used: 0, utilization: 0, declared: true }],
        replicas: [],
        started_at: new Date().toISOString(),
        sent_at: new Date().toISOString(),
      }),
    );
    pub.disconnect();
    await waitFor('the worker', async () => (await server.platform.db.prisma.worker.count()) === 1, 10_000);
    const reg = await fetch(`${server.url}/v1/model_registrations/LLM`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model_name: 'stories', model_path: STORIES }) });
    expect(reg.status).toBe(200);
  });

  afterAll(async () => {
    const q = new Queue(workerQueueName('only'), { connection: { url: REDIS_URL }, prefix });
    await q.obliterate({ force: true }).catch(() => {});
    await q.close();
    await server?.close();
    await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const table = CASES.map(([method, path, body, status, code], i) => ({ i, method, path, body, status, code }));
  it.each(table)('#$i $method $path → $status $code', async ({ method, path, body, status, code }) => {
    const before = await counts();
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = JSON.parse(text) as { error: { message: string; type: string; code: string } };
    expect(res.status, text.slice(0, 500)).toBe(status);
    expect(json.error.code).toBe(code);
    expect(json.error.type).toBe(status === 404 ? 'not_found_error' : 'invalid_request_error');
    expect(json.error.message.length).toBeLessThan(500);
    expect(leaksInternals(text), text.slice(0, 500)).toBe(false);
    expect(await counts()).toEqual(before);
  });

  it('answers an unexpected fault with a generic 500 and logs the detail', async () => {
    // A table gone from under the server: Prisma's error text names files and code lines.
    await server.platform.db.prisma.$executeRawUnsafe('ALTER TABLE "ApiKey" RENAME TO "ApiKeyGone"');
    try {
      const res = await fetch(`${server.url}/api/keys`);
      const text = await res.text();
      expect(res.status).toBe(500);
      const json = JSON.parse(text) as { error: { message: string; type: string; code: string } };
      expect(json.error).toMatchObject({ type: 'server_error', code: 'internal_error' });
      expect(Object.keys(ERROR_CODES)).toContain(json.error.code);
      expect(json.error.message).toMatch(/^internal error [0-9a-f-]{36}: .*log/);
      expect(text).not.toMatch(/ApiKey|prisma|invocation/i);
      expect(leaksInternals(text)).toBe(false);
      const id = /internal error ([0-9a-f-]{36})/.exec(json.error.message)![1];
      const logged = logs.find((l) => l.error_id === id);
      expect(logged?.err?.message).toMatch(/ApiKey/);
    } finally {
      await server.platform.db.prisma.$executeRawUnsafe('ALTER TABLE "ApiKeyGone" RENAME TO "ApiKey"');
    }
  });
});
