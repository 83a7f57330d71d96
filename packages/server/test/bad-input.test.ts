// Every management route refuses bad input with 400 / 404 / 409 and a message that says what is
// wrong, in the one error shape, and leaves nothing half-created (rows and queued jobs counted after).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportChannel, workerQueueName } from '@pagoda/protocol';
import { startServer, type RunningServer } from '../src/index.ts';
import { GiB, ROOT, STORIES, waitFor } from './platform-helpers.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `bad${Date.now().toString(36)}`;
let server: RunningServer;
let dataDir: string;

type Case = [method: string, path: string, body: unknown, status: number, message: RegExp];

const launch = (extra: Record<string, unknown>) => ({ model_name: 'stories', ...extra });
const CASES: Case[] = [
  ['POST', '/v1/models', [], 400, /JSON object/],
  ['POST', '/v1/models', '{not json', 400, /invalid JSON/],
  ['POST', '/v1/models', {}, 400, /model_name/],
  ['POST', '/v1/models', launch({ foo: 1 }), 400, /unknown parameter 'foo'/],
  ['POST', '/v1/models', launch({ model_uid: 'has space' }), 400, /model_uid/],
  ['POST', '/v1/models', launch({ model_uid: 'x'.repeat(101) }), 400, /model_uid/],
  ['POST', '/v1/models', launch({ n_gpu: -1 }), 400, /n_gpu/],
  ['POST', '/v1/models', launch({ n_gpu: 'two' }), 400, /n_gpu/],
  ['POST', '/v1/models', launch({ gpu_memory_utilization: 1.5 }), 400, /gpu_memory_utilization/],
  ['POST', '/v1/models', launch({ gpu_memory_utilization: 0 }), 400, /gpu_memory_utilization/],
  ['POST', '/v1/models', launch({ max_model_len: 0 }), 400, /max_model_len/],
  ['POST', '/v1/models', launch({ max_model_len: 1.5 }), 400, /max_model_len/],
  ['POST', '/v1/models', launch({ replica: 0 }), 400, /replica/],
  ['POST', '/v1/models', launch({ replica: 'x' }), 400, /replica/],
  ['POST', '/v1/models', launch({ enforce_eager: 'yes' }), 400, /enforce_eager/],
  ['POST', '/v1/models', launch({ block_size: 7 }), 400, /block_size/],
  ['POST', '/v1/models', launch({ tensor_parallel_size: 0 }), 400, /tensor_parallel_size/],
  ['POST', '/v1/models', launch({ dtype: 'int3' }), 400, /dtype/],
  ['POST', '/v1/models', launch({ request_limits: 0 }), 400, /request_limits/],
  ['POST', '/v1/models', launch({ model_type: 'embedding' }), 400, /model_type/],
  ['POST', '/v1/models', launch({ seed: 'abc' }), 400, /seed/],
  ['POST', '/v1/models', launch({ gpu_idx: [-1] }), 400, /gpu_idx/],
  ['POST', '/v1/models', { model_name: 'no-such-model' }, 404, /not in the catalog/],
  ['POST', '/v1/models', { model_name: 'llama-3.2-instruct', model_format: 'onnx' }, 400, /model_format/],
  ['POST', '/v1/models', { model_name: 'llama-3.2-instruct', model_size_in_billions: 999 }, 400, /available sizes/],
  ['POST', '/v1/models', { model_name: 'llama-3.2-instruct', quantization: 'Q9' }, 400, /quantization/],
  ['POST', '/v1/models', launch({ model_engine: 'tgi' }), 400, /model_engine/],
  ['POST', '/v1/models', launch({ model_engine: 'remote' }), 400, /remote/],
  ['POST', '/v1/models', launch({ model_path: '/no/such/folder' }), 400, /model_path/],
  ['POST', '/v1/models', launch({ model_uid: 'existing' }), 409, /already launched/],
  ['POST', '/v1/models', launch({ model_uid: 'g99', gpu_idx: [99] }), 409, /gpu_idx 99/],
  ['POST', '/v1/models', launch({ model_uid: 'wx', worker_ip: 'nowhere' }), 409, /nowhere/],
  ['POST', '/v1/models', launch({ model_uid: 'tp', n_gpu: 2, tensor_parallel_size: 1 }), 400, /disagree/],
  ['POST', '/v1/models', launch({ model_uid: 'long', max_model_len: 100_000 }), 409, /max_position_embeddings/],
  ['GET', '/v1/models/nope', undefined, 404, /not launched/],
  ['GET', '/v1/models/bad%20uid', undefined, 400, /not a valid model uid/],
  ['DELETE', '/v1/models/nope', undefined, 404, /not launched/],
  ['GET', '/v1/models/nope/progress', undefined, 404, /not launched/],
  ['POST', '/v1/models/nope/cancel', undefined, 404, /not launched/],
  ['POST', '/v1/models/nope/retry', undefined, 404, /not launched/],
  ['GET', '/v1/models/nope/logs', undefined, 404, /not launched/],
  ['GET', '/v1/models/nope/replicas', undefined, 404, /not launched/],
  ['POST', '/v1/models/existing/replicas', {}, 400, /replica/],
  ['POST', '/v1/models/existing/replicas', { replica: -1 }, 400, /replica/],
  ['POST', '/v1/models/existing/replicas', { replica: 2.5 }, 400, /replica/],
  ['POST', '/v1/models/existing/replicas', { replica: 1, x: 1 }, 400, /unknown parameter 'x'/],
  ['POST', '/v1/models/nope/replicas', { replica: 1 }, 404, /not launched/],
  ['POST', '/v1/models/existing/replicas', { replica: 30 }, 409, /does not fit/],
  ['POST', '/v1/model_registrations/EMBED', { model_name: 'e', model_path: STORIES }, 404, /model type/],
  ['POST', '/v1/model_registrations/LLM', [], 400, /JSON object/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'x' }, 400, /model_path/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'x', model_path: '/no/such/folder' }, 400, /does not exist/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'bad name', model_path: STORIES }, 400, /not a valid name/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'llama-3.2-instruct', model_path: STORIES }, 400, /built-in/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES }, 409, /already registered/],
  ['POST', '/v1/model_registrations/LLM', { model: '{bad json' }, 400, /not valid JSON/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'y', model_path: STORIES, context_length: 100_000 }, 400, /context_length/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'z', model_path: join(ROOT, 'packages') }, 400, /config\.json/],
  ['POST', '/v1/model_registrations/LLM', { model_name: 'y', hf_repo_id: 'not a repo' }, 400, /hf_repo_id/],
  ['GET', '/v1/model_registrations/LLM/nope', undefined, 404, /not in the catalog/],
  ['DELETE', '/v1/model_registrations/LLM/nope', undefined, 404, /no custom model/],
  ['DELETE', '/v1/model_registrations/LLM/llama-3.2-instruct', undefined, 400, /built-in/],
  ['DELETE', '/v1/model_registrations/LLM/stories', undefined, 409, /launched as existing/],
  ['PATCH', '/v1/model_registrations/LLM/nope', { chat_template: 'x' }, 404, /no custom model named 'nope'/],
  ['PATCH', '/v1/model_registrations/LLM/llama-3.2-instruct', { chat_template: 'x' }, 400, /built-in/],
  ['PATCH', '/v1/model_registrations/EMBED/stories', { chat_template: 'x' }, 404, /model type/],
  ['PATCH', '/v1/model_registrations/LLM/stories', [], 400, /JSON object/],
  ['PATCH', '/v1/model_registrations/LLM/stories', { model_name: 'other' }, 400, /cannot be renamed/],
  ['PATCH', '/v1/model_registrations/LLM/stories', { context_length: 100_000 }, 400, /context_length/],
  ['PATCH', '/v1/model_registrations/LLM/stories', { model_path: '/no/such/folder' }, 400, /does not exist/],
  ['PATCH', '/v1/model_registrations/LLM/stories', { chat_template: 7 }, 400, /chat_template/],
  ['PUT', '/v1/model_registrations/LLM/stories', { chat_template: 'x' }, 400, /model_path/],
  ['GET', '/v1/engines/nope', undefined, 404, /not in the catalog/],
  ['POST', '/api/plan', {}, 400, /model_name/],
  ['POST', '/api/plan', { model_name: 'nope' }, 404, /not in the catalog/],
  ['POST', '/api/plan', launch({ gpu_memory_utilization: 2 }), 400, /gpu_memory_utilization/],
  ['POST', '/api/keys', { name: 'k', scope: 'root' }, 400, /scope/],
  ['POST', '/api/keys', { name: 'k', scope: 'admin', models: ['a'] }, 400, /admin keys cannot be limited/],
  ['POST', '/api/keys', { name: 'bad name', scope: 'inference' }, 400, /name/],
  ['DELETE', '/api/keys/nope', undefined, 404, /no key named/],
  ['POST', '/v1/chat/completions', {}, 400, /model/],
  ['POST', '/v1/chat/completions', { model: 'nope', messages: [] }, 404, /not launched/],
  ['POST', '/v1/completions', { model: 'existing', prompt: 'x' }, 503, /no replica is ready/],
  ['GET', '/v1/nothing', undefined, 404, /no route/],
];

async function counts() {
  const p = server.platform.db.prisma;
  return { instances: await p.modelInstance.count(), replicas: await p.replica.count(), claims: await p.gpuClaim.count(), registrations: await p.modelRegistration.count(), keys: await p.apiKey.count(), events: await p.event.count() };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pagoda-bad-'));
  server = await startServer({ port: 0, dataDir, databaseUrl: `file:${join(dataDir, 'p.db')}`, redisUrl: REDIS_URL, redisPrefix: prefix, logLevel: 'silent', reconcileMs: 60_000, workerLostMs: 600_000 });
  const pub = new Redis(REDIS_URL);
  await pub.publish(
    reportChannel(prefix),
    JSON.stringify({
      type: 'heartbeat',
      worker_id: 'only',
      host: 'test',
      address: '127.0.0.1',
      devices: [
        { kind: 'gpu', index: 0, name: 'declared', memory_total: 8 * GiB, memory_used: 0, utilization: 0, declared: true },
        { kind: 'cpu', index: -1, name: 'cpu', memory_total: 16 * GiB, memory_used: 0, utilization: 0, declared: false },
      ],
      replicas: [],
      started_at: new Date().toISOString(),
      sent_at: new Date().toISOString(),
    }),
  );
  pub.disconnect();
  await waitFor('the worker', async () => (await server.platform.db.prisma.worker.count()) === 1, 10_000);
  const reg = await fetch(`${server.url}/v1/model_registrations/LLM`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model_name: 'stories', model_path: STORIES }) });
  expect(reg.status).toBe(200);
  const res = await fetch(`${server.url}/v1/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model_name: 'stories', model_uid: 'existing', gpu_memory_utilization: 0.6, max_model_len: 256 }) });
  expect(res.status).toBe(200);
});

afterAll(async () => {
  const q = new Queue(workerQueueName('only'), { connection: { url: REDIS_URL }, prefix });
  await q.obliterate({ force: true }).catch(() => {});
  await q.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('bad input on the management routes', () => {
  it(`has at least 50 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(50);
  });

  it.each(CASES.map((c, i) => [i, ...c] as const))('#%i %s %s → %i', async (_i, method, path, body, status, message) => {
    const before = await counts();
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const json = (await res.json()) as { error: { message: string; type: string; code: unknown } };
    expect(res.status, json.error?.message).toBe(status);
    expect(json.error.message).toMatch(message);
    expect(json.error.type).toBeTruthy();
    expect(await counts()).toEqual(before);
  });

  it('left the registration the refused updates named as it was, and a good PATCH changes only its field', async () => {
    const get = async () => (await (await fetch(`${server.url}/v1/model_registrations/LLM/stories`)).json()) as Record<string, unknown>;
    const before = await get();
    expect(before.chat_template).toBeNull();
    const res = await fetch(`${server.url}/v1/model_registrations/LLM/stories`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_template: '{{ messages[0].content }}' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ model_name: 'stories', updated: true, launched_as: ['existing'] });
    const after = await get();
    expect(after).toEqual({ ...before, chat_template: '{{ messages[0].content }}', model_ability: ['chat', 'generate'] });
  });

  it('queued exactly one job: the one good launch', async () => {
    const q = new Queue(workerQueueName('only'), { connection: { url: REDIS_URL }, prefix });
    expect(await q.count()).toBe(1);
    await q.close();
  });
});
