// Once a key has existed, auth stays on: revoking the last admin key is refused, keys lost from the
// database (or a restart with none) never reopen the server, and PAGODA_ADMIN_KEY at start recovers
// a server whose admin key is lost. On SQLite and on PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ERROR_CODES } from '@pagoda/protocol';
import { createScratchDatabase } from '../../db/test/pg.ts';
import { startServer, type RunningServer } from '../src/index.ts';
import type { Body } from './one_worker_cluster.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RECOVERY_KEY = 'recovery-admin-key-0123456789';

/** Opens /api/events without a key: 'open', or the refusal's status and JSON body. */
function eventsWithoutKey(server: RunningServer): Promise<'open' | { status: number; json: Body }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/events`);
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    ws.once('error', reject);
  });
}

async function call(server: RunningServer, method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; json: Body }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

describe.each(['sqlite', 'postgresql'] as const)('auth on %s', (provider) => {
  const dataDir = mkdtempSync(join(tmpdir(), `pagoda-auth-on-${provider}-`));
  let databaseUrl = `file:${join(dataDir, 'pagoda.db')}`;
  let dropDatabase = async () => {};
  const prefix = `authon${provider}${Date.now().toString(36)}`;
  const start = (adminKey?: string) =>
    startServer({ port: 0, host: '127.0.0.1', dataDir, databaseUrl, redisUrl: REDIS_URL, redisPrefix: prefix, logLevel: 'silent', reconcileMs: 60_000, ...(adminKey ? { adminKey } : {}) });

  afterAll(async () => {
    await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses to revoke the last admin key, and lost keys never open the server', async () => {
    if (provider === 'postgresql') {
      const scratch = await createScratchDatabase('pagoda_authon');
      databaseUrl = scratch.url;
      dropDatabase = scratch.drop;
    }
    const server = await start();
    try {
      // Never had a key, on loopback: open.
      expect((await call(server, 'GET', '/v1/models')).status).toBe(200);
      expect(await eventsWithoutKey(server)).toBe('open');
      const boss = await call(server, 'POST', '/api/keys', { name: 'boss', scope: 'admin' });
      expect(boss.status).toBe(201);
      const bossKey = boss.json.key as string;

      // The reproduction: the last admin key revoking itself.
      const self = await call(server, 'DELETE', '/api/keys/boss', undefined, bossKey);
      expect(self.status).toBe(409);
      expect(self.json.error).toMatchObject({ type: 'conflict_error', code: 'last_admin_key', param: 'name' });
      expect(self.json.error.message).toMatch(/last admin key.*PAGODA_ADMIN_KEY/);
      expect((await call(server, 'GET', '/api/keys', undefined, bossKey)).status).toBe(200);

      // With a second admin key the first can go; the second then is the last and stays.
      const ops = await call(server, 'POST', '/api/keys', { name: 'ops', scope: 'admin' }, bossKey);
      const opsKey = ops.json.key as string;
      expect((await call(server, 'DELETE', '/api/keys/boss', undefined, opsKey)).json).toEqual({ name: 'boss', revoked: true });
      expect((await call(server, 'DELETE', '/api/keys/ops', undefined, opsKey)).status).toBe(409);
      // Inference keys may come and go: they are not what management needs.
      const app = await call(server, 'POST', '/api/keys', { name: 'app', scope: 'inference' }, opsKey);
      expect((await call(server, 'DELETE', '/api/keys/app', undefined, opsKey)).status).toBe(200);
      expect(app.status).toBe(201);

      // Every key lost from the database (a second admin, a restore): the server stays shut.
      await server.platform.db.prisma.apiKey.deleteMany();
      const list = await call(server, 'GET', '/v1/models');
      expect(list.status).toBe(401);
      expect(list.json.error).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
      const mint = await call(server, 'POST', '/api/keys', { name: 'intruder', scope: 'admin' });
      expect(mint.status).toBe(401);
      expect((await call(server, 'GET', '/v1/workers', undefined, bossKey)).json.error.code).toBe('invalid_api_key');
      expect(await server.platform.db.prisma.apiKey.count()).toBe(0);
      expect(await eventsWithoutKey(server)).toEqual({ status: 401, json: { error: expect.objectContaining({ type: 'authentication_error', code: 'missing_api_key' }) } });
    } finally {
      await server.close();
    }
  });

  it('stays shut after a restart with no key, and PAGODA_ADMIN_KEY recovers it', async () => {
    let server = await start();
    try {
      expect(server.host).toBe('127.0.0.1');
      expect((await call(server, 'GET', '/v1/models')).status).toBe(401);
      expect((await call(server, 'POST', '/api/keys', { name: 'intruder', scope: 'admin' })).status).toBe(401);
    } finally {
      await server.close();
    }

    server = await start(RECOVERY_KEY);
    let fresh: string;
    try {
      expect((await call(server, 'GET', '/v1/models')).status).toBe(401);
      const made = await call(server, 'POST', '/api/keys', { name: 'new-boss', scope: 'admin' }, RECOVERY_KEY);
      expect(made.status).toBe(201);
      fresh = made.json.key as string;
      // With PAGODA_ADMIN_KEY set, the stored admin key may go: the operator still holds one.
      expect((await call(server, 'GET', '/api/keys', undefined, fresh)).status).toBe(200);
    } finally {
      await server.close();
    }

    // Without the environment key again: the key made during recovery works, nothing else does.
    server = await start();
    try {
      expect((await call(server, 'GET', '/api/keys', undefined, fresh)).json.map((k: Body) => k.name)).toEqual(['new-boss']);
      const anon = await call(server, 'GET', '/v1/models');
      expect(anon.status).toBe(401);
      expect(Object.keys(ERROR_CODES)).toContain(anon.json.error.code);
    } finally {
      await server.close();
    }
  });
});
