// The fuzz suite: hundreds of malformed requests (fuzz_cases.ts, seeded) across the management API,
// the proxy and a runner of a platform with keys (server + worker + a stories260k runner on the CPU
// engine). Each answer: no 5xx, no stack or path, errors in the one shape with a code from
// ERROR_CODES and a short message. After all of them: no process restarted, nothing half-created
// (list endpoints and database rows unchanged). Then the error shape's own promises, one by one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_TYPE_BY_STATUS, MAX_ERROR_MESSAGE_CHARS } from '@pagoda/protocol';
import { fuzzCases, type FuzzCase, type PathTarget, type Target } from './fuzz-cases.ts';
import { startOneWorkerCluster, TEMPLATE, type Body, type OneWorkerCluster } from './one-worker-cluster.ts';
import { leaksInternals, STORIES, waitFor } from './platform-helpers.ts';

const SEED = Number(process.env.PAGODA_FUZZ_SEED ?? 20261214);
const ADMIN = 'fuzz-admin-key-0123456789abcdef';
const MB = 1024 * 1024;

const SERVER_LIMIT = 8 * MB + 1024;
const RUNNER_LIMIT = 16 * MB + 1024;
const chat = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Once upon a time' }], max_tokens: 2 };
const completion = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 2 };

const TARGETS: Target[] = [
  // Each management base names something that exists, so a body that slips through is still refused (409), never created.
  { name: 'launch', via: 'admin', method: 'POST', path: '/v1/models', base: { model_name: 'stories', model_uid: 'tiny', max_model_len: 256 }, overLimitBytes: SERVER_LIMIT },
  { name: 'plan', via: 'admin', method: 'POST', path: '/api/plan', base: { model_name: 'stories', max_model_len: 256 }, overLimitBytes: SERVER_LIMIT },
  { name: 'register', via: 'admin', method: 'POST', path: '/v1/model_registrations/LLM', base: { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE }, overLimitBytes: SERVER_LIMIT },
  { name: 'key', via: 'admin', method: 'POST', path: '/api/keys', base: { name: 'app', scope: 'inference', models: ['tiny'] }, overLimitBytes: SERVER_LIMIT },
  { name: 'bench', via: 'admin', method: 'POST', path: '/api/bench', base: { model_uid: 'nope', num_prompts: 1 }, overLimitBytes: SERVER_LIMIT },
  { name: 'scale', via: 'admin', method: 'POST', path: '/v1/models/tiny/replicas', base: { replica: 1 }, overLimitBytes: SERVER_LIMIT },
  { name: 'proxy-chat', via: 'inference', method: 'POST', path: '/v1/chat/completions', base: chat, overLimitBytes: SERVER_LIMIT },
  { name: 'proxy-completions', via: 'inference', method: 'POST', path: '/v1/completions', base: completion, overLimitBytes: SERVER_LIMIT },
  { name: 'runner-chat', via: 'runner', method: 'POST', path: '/v1/chat/completions', base: chat, overLimitBytes: RUNNER_LIMIT },
  { name: 'runner-completions', via: 'runner', method: 'POST', path: '/v1/completions', base: completion, overLimitBytes: RUNNER_LIMIT },
  { name: 'runner-tokenize', via: 'runner', method: 'POST', path: '/tokenize', base: { model: 'tiny', prompt: 'Once' }, overLimitBytes: RUNNER_LIMIT },
  { name: 'runner-detokenize', via: 'runner', method: 'POST', path: '/detokenize', base: { model: 'tiny', tokens: [1, 2] }, overLimitBytes: RUNNER_LIMIT },
];
const PATH_TARGETS: PathTarget[] = [
  { name: 'describe', method: 'GET', path: '/v1/models/{}' },
  { name: 'terminate', method: 'DELETE', path: '/v1/models/{}' },
  { name: 'progress', method: 'GET', path: '/v1/models/{}/progress' },
  { name: 'cancel', method: 'POST', path: '/v1/models/{}/cancel' },
  { name: 'retry', method: 'POST', path: '/v1/models/{}/retry' },
  { name: 'logs', method: 'GET', path: '/v1/models/{}/logs' },
  { name: 'revoke', method: 'DELETE', path: '/api/keys/{}' },
  { name: 'registration', method: 'GET', path: '/v1/model_registrations/LLM/{}' },
  { name: 'unregister', method: 'DELETE', path: '/v1/model_registrations/LLM/{}' },
  { name: 'engines', method: 'GET', path: '/v1/engines/{}' },
  { name: 'bench-run', method: 'GET', path: '/api/bench/{}' },
  { name: 'bench-delete', method: 'DELETE', path: '/api/bench/{}' },
];
const CASES = fuzzCases(SEED, TARGETS, PATH_TARGETS);
const ERROR_TYPES = new Set([...Object.values(ERROR_TYPE_BY_STATUS), 'server_error', 'invalid_request_error']);

let cluster: OneWorkerCluster;
let appKey: string;
let runner: { url: string; secret: string };
let before: Awaited<ReturnType<typeof snapshot>>;

/** What must not change: processes, rows, and what the list endpoints show. */
async function snapshot() {
  const p = cluster.server.platform.db.prisma;
  const replica = await p.replica.findFirstOrThrow();
  const lists: Record<string, unknown> = {};
  for (const path of ['/v1/models?all=1', '/api/keys', '/v1/model_registrations/LLM', '/api/bench', '/v1/workers']) {
    const res = await cluster.api('GET', path, undefined, ADMIN);
    expect(res.status, path).toBe(200);
    lists[path] = path === '/v1/workers' ? res.json.map((w: Body) => ({ ...w, last_heartbeat: null })) : res.json;
  }
  return {
    worker: cluster.worker.child.pid,
    workerAlive: cluster.worker.child.exitCode === null,
    runner: { pid: replica.pid, restarts: replica.restarts, status: replica.status },
    rows: {
      instances: await p.modelInstance.count(),
      replicas: await p.replica.count(),
      claims: await p.gpuClaim.count(),
      registrations: await p.modelRegistration.count(),
      keys: await p.apiKey.count(),
      events: await p.event.count(),
      workers: await p.worker.count(),
      settings: await p.setting.count(),
    },
    lists,
  };
}

async function send(c: FuzzCase): Promise<{ status: number; text: string }> {
  const base = c.via === 'runner' ? runner.url : cluster.server.url;
  const key = c.via === 'admin' ? ADMIN : c.via === 'inference' ? appKey : runner.secret;
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (c.contentType) headers['content-type'] = c.contentType;
  const res = await fetch(`${base}${c.path}`, { method: c.method, headers, body: c.body ?? undefined });
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  cluster = await startOneWorkerCluster('fuzz', { adminKey: ADMIN });
  const reg = await cluster.api('POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE }, ADMIN);
  expect(reg.status).toBe(200);
  const launch = await cluster.api('POST', '/v1/models', { model_name: 'stories', model_uid: 'tiny', gpu_memory_utilization: 0.3, max_model_len: 256 }, ADMIN);
  expect(launch.status, JSON.stringify(launch.json)).toBe(200);
  await waitFor('tiny to be ready', async () => (await cluster.api('GET', '/v1/models/tiny/progress', undefined, ADMIN)).json.status === 'ready', 60_000, 100);
  appKey = (await cluster.api('POST', '/api/keys', { name: 'app', scope: 'inference', models: ['tiny'] }, ADMIN)).json.key;
  const replica = await cluster.server.platform.db.prisma.replica.findFirstOrThrow();
  const listed = await cluster.api('GET', '/v1/models', undefined, ADMIN);
  runner = { url: `http://${listed.json.data[0].replicas[0].address}`, secret: replica.runnerSecret! };
  before = await snapshot();
}, 120_000);
afterAll(() => cluster?.close());

describe(`fuzz (seed ${SEED})`, () => {
  it(`has at least 500 cases across the management API, the proxy and a runner (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(500);
    for (const via of ['admin', 'inference', 'runner'] as const) expect(CASES.filter((c) => c.via === via).length).toBeGreaterThan(100);
  });

  it.each(CASES.map((c) => ({ ...c, title: c.id })))('$title', async (c) => {
    const { status, text } = await send(c);
    const shown = text.slice(0, 300);
    expect(status, shown).toBeLessThan(500);
    if (c.expectStatus !== undefined) expect(status, shown).toBe(c.expectStatus);
    expect(leaksInternals(text), shown).toBe(false);
    if (status >= 400) {
      const { error } = JSON.parse(text) as { error: { message: string; type: string; code: string; param: string | null } };
      expect(Object.keys(ERROR_CODES), shown).toContain(error.code);
      expect(ERROR_TYPES.has(error.type), shown).toBe(true);
      expect(error.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS + 40);
      expect(error.param === null || error.param.length <= 240).toBe(true);
    }
  });

  it('restarted no process and half-created nothing', async () => {
    const health = await fetch(`${runner.url}/health`);
    expect(health.status).toBe(200);
    expect((await cluster.api('GET', '/health')).status).toBe(200);
    await waitFor('the last heartbeat to land', async () => (await cluster.api('GET', '/v1/models/tiny/progress', undefined, ADMIN)).json.status === 'ready', 10_000);
    expect(await snapshot()).toEqual(before);
  });
});

describe('the error shape', () => {
  it('gives 403 and 409 their own types and codes', async () => {
    const forbidden = await cluster.api('GET', '/v1/workers', undefined, appKey);
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.error).toMatchObject({ type: 'permission_error', code: 'admin_key_required' });
    const other = (await cluster.api('POST', '/api/keys', { name: 'other', scope: 'inference', models: ['elsewhere'] }, ADMIN)).json.key;
    const notAllowed = await cluster.api('POST', '/v1/chat/completions', chat, other);
    expect(notAllowed.status).toBe(403);
    expect(notAllowed.json.error).toMatchObject({ type: 'permission_error', code: 'model_not_allowed', param: 'model' });
    expect((await cluster.api('DELETE', '/api/keys/other', undefined, ADMIN)).status).toBe(200);

    const conflict = await cluster.api('POST', '/api/keys', { name: 'app', scope: 'inference' }, ADMIN);
    expect(conflict.status).toBe(409);
    expect(conflict.json.error).toMatchObject({ type: 'conflict_error', code: 'already_exists', param: 'name' });
    const launched = await cluster.api('POST', '/v1/models', { model_name: 'stories', model_uid: 'tiny' }, ADMIN);
    expect(launched.json.error).toMatchObject({ type: 'conflict_error', code: 'already_exists' });
    const full = await cluster.api('POST', '/v1/models/tiny/replicas', { replica: 60 }, ADMIN);
    expect(full.status).toBe(409);
    expect(full.json.error).toMatchObject({ type: 'conflict_error', code: 'no_capacity' });
  });

  it('refuses stream_options without stream, at the runner and through the proxy', async () => {
    for (const [base, key] of [
      [cluster.server.url, appKey],
      [runner.url, runner.secret],
    ] as const) {
      for (const [path, body] of [
        ['/v1/chat/completions', chat],
        ['/v1/completions', completion],
      ] as const) {
        for (const stream of [undefined, false, null]) {
          const res = await fetch(`${base}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
            body: JSON.stringify({ ...body, stream, stream_options: { include_usage: true } }),
          });
          const json = (await res.json()) as Body;
          expect(res.status, `${base}${path} stream=${stream}`).toBe(400);
          expect(json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param: 'stream_options' });
        }
        const streamed = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
        });
        expect(streamed.status).toBe(200);
        expect(await streamed.text()).toMatch(/"usage":\{"prompt_tokens"/);
      }
    }
  });

  it('echoes a multi-megabyte input as a short prefix, never whole', async () => {
    const huge = 'q'.repeat(3 * MB);
    const answers = [
      await cluster.api('POST', '/v1/chat/completions', { ...chat, model: huge }, appKey),
      await cluster.api('POST', '/v1/models', { model_name: huge }, ADMIN),
      await cluster.api('POST', '/v1/model_registrations/LLM', { model_name: huge, model_path: STORIES }, ADMIN),
      await cluster.api('POST', '/v1/model_registrations/LLM', { model_name: 'fresh', model_path: huge }, ADMIN),
      await cluster.api('POST', '/api/keys', { name: 'k', scope: 'inference', [huge]: 1 }, ADMIN),
    ];
    const direct = await fetch(`${runner.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${runner.secret}` },
      body: JSON.stringify({ ...chat, model: huge }),
    });
    answers.push({ status: direct.status, json: await direct.json() });
    for (const a of answers) {
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.status).toBeLessThan(500);
      expect(JSON.stringify(a.json).length).toBeLessThan(4_000);
      expect(JSON.stringify(a.json)).not.toMatch(/q{201}/); // at most a short prefix of it (paths: 200 characters)
    }
  });
});
