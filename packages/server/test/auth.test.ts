// Auth as an operator relies on it: the admin key guards management (and /metrics, /api/events),
// inference keys reach only /v1 generation and, when limited, only their models; keys are kept as
// hashes and can be revoked; with no key configured the server listens on loopback only and says so,
// and a server that listens beyond loopback never falls open when its last key is revoked.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer, type ServerConfigInput } from '../src/index.ts';
import {
  startOneWorkerCluster,
  TEMPLATE,
  type Body,
  type OneWorkerCluster,
} from './one-worker-cluster.ts';
import { STORIES, waitFor } from './platform-helpers.ts';

const ADMIN = 'admin-key-for-tests-0123456789';
let cluster: OneWorkerCluster;
const keys: Record<string, string> = {};

beforeAll(async () => {
  cluster = await startOneWorkerCluster('auth', { adminKey: ADMIN, allowedOrigins: ['https://app.example'] });
});
afterAll(() => cluster?.close());

const api = (method: string, path: string, body?: unknown, key?: string) =>
  cluster.api(method, path, body, key);
const client = (key: string) =>
  new OpenAI({ baseURL: `${cluster.server.url}/v1`, apiKey: key, maxRetries: 0 });
const chat = (key: string, model = 'tiny') =>
  client(key).chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Once upon a time' }],
    max_tokens: 4,
  });

async function createKey(
  name: string,
  scope: 'admin' | 'inference',
  models?: string[],
): Promise<string> {
  const res = await api('POST', '/api/keys', { name, scope, ...(models ? { models } : {}) }, ADMIN);
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  expect(res.json.key).toMatch(/^pk-[A-Za-z0-9_-]{40,}$/);
  keys[name] = res.json.key;
  return res.json.key;
}

/** Opens /api/events; resolves with 'open' or the HTTP status the upgrade was refused with. */
function connectEvents(
  url: string,
  headers: Record<string, string> = {},
  query = '',
): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/events${query}`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

describe('with PAGODA_ADMIN_KEY set', () => {
  it('listens on the address asked for and guards management routes with the admin key', async () => {
    expect(cluster.server.host).toBe('127.0.0.1');
    expect((await api('GET', '/health')).status).toBe(200);
    for (const [method, path] of [
      ['GET', '/v1/workers'],
      ['GET', '/v1/cluster/devices'],
      ['GET', '/api/keys'],
      ['GET', '/metrics'],
      ['POST', '/v1/models'],
      ['GET', '/v1/models'],
    ]) {
      const none = await api(
        method!,
        path!,
        method === 'POST' ? { model_name: 'stories' } : undefined,
      );
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.json.error.message).toMatch(/send Authorization: Bearer <key>/);
      expect((await api(method!, path!, undefined, 'pk-not-a-key')).status).toBe(401);
    }
    expect(await cluster.server.platform.db.prisma.modelInstance.count()).toBe(0);
    expect((await api('GET', '/v1/workers', undefined, ADMIN)).status).toBe(200);
  });

  it('stores created keys as hashes only and shows the plain key once', async () => {
    const key = await createKey('ops', 'admin');
    const row = await cluster.server.platform.db.prisma.apiKey.findUniqueOrThrow({
      where: { name: 'ops' },
    });
    const hash = createHash('sha256').update(key).digest('hex');
    expect(row.keyHash).toBe(hash);
    expect(row.prefix).toBe(key.slice(0, 8));
    expect(Object.values(row).some((v) => typeof v === 'string' && v.includes(key))).toBe(false);
    // Nothing on disk holds the plain key: the database files have its hash and not the key.
    const files = Buffer.concat(
      readdirSync(cluster.dataDir)
        .filter((f) => f.startsWith('pagoda.db'))
        .map((f) => readFileSync(join(cluster.dataDir, f))),
    );
    expect(files.includes(hash)).toBe(true);
    expect(files.includes(key)).toBe(false);
    expect(files.includes(ADMIN)).toBe(false);

    const list = await api('GET', '/api/keys', undefined, key);
    expect(list.status).toBe(200);
    expect(list.json).toEqual([
      {
        name: 'ops',
        scope: 'admin',
        prefix: key.slice(0, 8),
        models: null,
        created_at: expect.any(String),
      },
    ]);
    expect(JSON.stringify(list.json)).not.toContain(hash);
  });

  it('lets a stored admin key manage, and launches a model with it', async () => {
    expect(
      (
        await api(
          'POST',
          '/v1/model_registrations/LLM',
          { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE },
          keys.ops,
        )
      ).status,
    ).toBe(200);
    const launch = await api(
      'POST',
      '/v1/models',
      { model_name: 'stories', model_uid: 'tiny', gpu_memory_utilization: 0.3, max_model_len: 256 },
      keys.ops,
    );
    expect(launch.status, JSON.stringify(launch.json)).toBe(200);
    await waitFor(
      'tiny to be ready',
      async () =>
        (await api('GET', '/v1/models/tiny/progress', undefined, keys.ops)).json.status === 'ready',
      60_000,
      100,
    );
  });

  it('lets inference keys generate, limited ones only with their models, and never manage', async () => {
    const all = await createKey('app-all', 'inference');
    const limited = await createKey('app-tiny', 'inference', ['tiny']);
    const elsewhere = await createKey('app-other', 'inference', ['other']);

    for (const key of [all, limited, ADMIN])
      expect((await chat(key)).choices[0]!.message.content!.length).toBeGreaterThan(0);
    const refused = await chat(elsewhere).catch((e) => e);
    expect(refused.status).toBe(403);
    expect(refused.message).toMatch(/may not use model 'tiny'/);
    const completion = await fetch(`${cluster.server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${elsewhere}` },
      body: JSON.stringify({ model: 'tiny', prompt: 'x' }),
    });
    expect(completion.status).toBe(403);
    // vLLM's /tokenize goes through the same gate: a key for another model, or none, is refused
    const tokenize = (key?: string) =>
      fetch(`${cluster.server.url}/tokenize`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
        body: JSON.stringify({ model: 'tiny', prompt: 'Once upon' }),
      });
    expect((await tokenize(elsewhere)).status).toBe(403);
    expect((await tokenize()).status).toBe(401);
    expect(((await (await tokenize(limited)).json()) as { count: number }).count).toBeGreaterThan(
      0,
    );
    // PAGODA_ALLOWED_ORIGINS: a page on that origin may call the OpenAI routes (with a key), never management
    const preflight = (path: string, origin = 'https://app.example') =>
      fetch(`${cluster.server.url}${path}`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
      });
    for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/embeddings']) {
      const ok = await preflight(path);
      expect(ok.status, path).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    }
    expect((await preflight('/v1/chat/completions', 'https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    for (const path of ['/v1/models/tiny', '/api/keys', '/v1/workers'])
      expect((await preflight(path)).headers.get('access-control-allow-origin'), path).toBeNull();
    const fromPage = await fetch(`${cluster.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Origin: 'https://app.example', 'content-type': 'application/json', authorization: `Bearer ${limited}` },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }),
    });
    expect(fromPage.status).toBe(200);
    expect(fromPage.headers.get('access-control-allow-origin')).toBe('https://app.example');
    // the Responses API too: forwarded by model to the runner, behind the same keys
    const responses = await client(limited).responses.create({ model: 'tiny', input: 'Once upon a time', max_output_tokens: 4 });
    expect(responses.output_text.length).toBeGreaterThan(0);
    expect(responses.usage!.output_tokens).toBe(4);
    const notYours = await client(elsewhere)
      .responses.create({ model: 'tiny', input: 'x' })
      .catch((e) => e);
    expect(notYours.status).toBe(403);

    expect((await client(limited).models.list()).data.map((m) => m.id)).toEqual(['tiny']);
    expect((await client(elsewhere).models.list()).data).toEqual([]);

    for (const [method, path] of [
      ['GET', '/v1/workers'],
      ['GET', '/metrics'],
      ['GET', '/v1/models/tiny'],
      ['DELETE', '/v1/models/tiny'],
      ['POST', '/api/keys'],
    ]) {
      const res = await api(
        method!,
        path!,
        method === 'POST' ? { name: 'x', scope: 'admin' } : undefined,
        all,
      );
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json.error.message).toMatch(/inference key; this route needs an admin key/);
    }
    expect(await cluster.server.platform.db.prisma.apiKey.count({ where: { name: 'x' } })).toBe(0);
    expect((await api('GET', '/v1/models/tiny', undefined, ADMIN)).status).toBe(200);
  });

  it('revokes a key: it stops working at once, and revoking it again is a 404', async () => {
    expect((await chat(keys['app-tiny']!)).choices).toHaveLength(1);
    const res = await api('DELETE', '/api/keys/app-tiny', undefined, ADMIN);
    expect(res.json).toEqual({ name: 'app-tiny', revoked: true });
    const after = await chat(keys['app-tiny']!).catch((e) => e);
    expect(after.status).toBe(401);
    expect((await api('DELETE', '/api/keys/app-tiny', undefined, ADMIN)).status).toBe(404);
    expect((await api('GET', '/api/keys', undefined, ADMIN)).json.map((k: Body) => k.name)).toEqual(
      ['ops', 'app-all', 'app-other'],
    );
    expect((await chat(keys['app-all']!)).choices).toHaveLength(1);
  });

  it('opens /api/events to admin keys only', async () => {
    expect(await connectEvents(cluster.server.url)).toBe(401);
    expect(
      await connectEvents(`${cluster.server.url}`, { authorization: `Bearer ${keys['app-all']}` }),
    ).toBe(403);
    // Browsers cannot set headers on a WebSocket: the key may come as ?api_key=.
    expect(await connectEvents(cluster.server.url, {}, `?api_key=${ADMIN}`)).toBe('open');
    expect(await connectEvents(cluster.server.url, {}, '?api_key=pk-unknown')).toBe(401);
    expect(await connectEvents(cluster.server.url, { authorization: `Bearer ${ADMIN}` })).toBe(
      'open',
    );
    expect(await connectEvents(cluster.server.url, { authorization: `Bearer ${keys.ops}` })).toBe(
      'open',
    );
  });
});

/** A server with no worker, its log lines captured. */
async function bareServer(
  dataDir: string,
  settings: Partial<ServerConfigInput>,
): Promise<{ server: RunningServer; logs: Body[] }> {
  const logs: Body[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void logs.push(JSON.parse(line)) },
  );
  const server = await startServer(
    {
      port: 0,
      dataDir,
      databaseUrl: `file:${join(dataDir, 'pagoda.db')}`,
      redisUrl: cluster.redis.url,
      redisPrefix: `bare${Date.now().toString(36)}`,
      ...settings,
    },
    log,
  );
  return { server, logs };
}

function externalIpv4(): string | null {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

async function reachable(host: string, port: number): Promise<boolean> {
  return fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(2_000) }).then(
    () => true,
    () => false,
  );
}

describe('with no key configured', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pagoda-auth-bare-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('listens on 127.0.0.1 when asked for 0.0.0.0, and says so', async () => {
    const { server, logs } = await bareServer(dataDir, { host: '0.0.0.0' });
    try {
      expect(server.host).toBe('127.0.0.1');
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const warning = logs.find((l) => l.level === 40 && /no API key is configured/.test(l.msg));
      expect(warning?.msg).toMatch(
        /listening on 127\.0\.0\.1 only, not 0\.0\.0\.0; set PAGODA_ADMIN_KEY/,
      );
      const port = Number(new URL(server.url).port);
      const ip = externalIpv4();
      if (ip) expect(await reachable(ip, port)).toBe(false);
      // Open on loopback: management works without a key.
      expect((await fetch(`${server.url}/v1/workers`)).status).toBe(200);
      // An inference key alone would lock management out, so the first key must be an admin key.
      const first = await fetch(`${server.url}/api/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'app', scope: 'inference' }),
      });
      expect(first.status).toBe(409);
      expect(((await first.json()) as Body).error.message).toMatch(/create an admin key first/);
      const admin = await fetch(`${server.url}/api/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'boss', scope: 'admin' }),
      });
      expect(admin.status).toBe(201);
      // From the first key on, routes need one.
      expect((await fetch(`${server.url}/v1/workers`)).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('with a stored key listens on 0.0.0.0, and stays closed when that last key is revoked', async () => {
    const { server } = await bareServer(dataDir, { host: '0.0.0.0' });
    try {
      expect(server.host).toBe('0.0.0.0');
      const port = Number(new URL(server.url).port);
      const ip = externalIpv4();
      if (ip) expect(await reachable(ip, port)).toBe(true);
      const boss = (
        await server.platform.db.prisma.apiKey.findUniqueOrThrow({ where: { name: 'boss' } })
      ).prefix;
      expect(boss).toMatch(/^pk-/);
      const revoke = await fetch(`${server.url}/api/keys/boss`, { method: 'DELETE' });
      expect(revoke.status).toBe(401);
      expect(await server.platform.db.prisma.apiKey.count()).toBe(1);
      // Revoked through the database (as a second admin would): no key is left, yet nothing opens.
      await server.platform.db.prisma.apiKey.deleteMany();
      const res = await fetch(`${server.url}/v1/workers`);
      expect(res.status).toBe(401);
      expect(await connectEvents(server.url)).toBe(401);
    } finally {
      await server.close();
    }
  });
});
