// A launch that fails for good, end to end: a real worker process (restarts capped at 0) starts a
// runner on a checkpoint whose weights are not a safetensors file; the runner exits, the worker gives
// up and reports the replica failed, and its GPU memory claim is released, so a launch that needs
// that memory is placed and becomes ready instead of getting 409 until the failed model is deleted.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/index.ts';
import { GiB, PrivateRedis, startWorkerProcess, STORIES, waitFor, type WorkerProcess } from './platform_helpers.ts';

const TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
let redis: PrivateRedis;
let server: RunningServer;
let worker: WorkerProcess;
let dataDir: string;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  redis = await PrivateRedis.create();
  dataDir = mkdtempSync(join(tmpdir(), 'pagoda-failclaim-'));
  const prefix = `fc${Date.now().toString(36)}`;
  server = await startServer({ port: 0, dataDir, databaseUrl: `file:${join(dataDir, 'pagoda.db')}`, redisUrl: redis.url, redisPrefix: prefix, logLevel: 'silent', reconcileMs: 250 });
  worker = startWorkerProcess({ server: server.url, redis: redis.url, name: 'w1', prefix, devices: [{ name: 'declared', memory_total: 8 * GiB }], extraArgs: ['--max-restarts', '0'] });
  await waitFor('the worker to register', async () => (await server.platform.db.prisma.worker.findUnique({ where: { id: 'w1' } }))?.status === 'alive', 30_000);
});

afterAll(async () => {
  await worker?.kill('SIGTERM');
  await server?.close();
  await redis?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('a launch whose runner fails for good', () => {
  it('releases its GPU claim, and a launch that needs the memory then runs', async () => {
    // The tokenizer and config of stories260k with weights that are not a safetensors file.
    const broken = join(dataDir, 'broken-checkpoint');
    rmSync(broken, { recursive: true, force: true });
    mkdirSync(broken);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(STORIES, f), join(broken, f));
    writeFileSync(join(broken, 'model.safetensors'), 'these are not weights');
    expect((await call('POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE })).status).toBe(200);

    const bad = await call('POST', '/v1/models', { model_name: 'stories', model_uid: 'broken', model_path: broken, gpu_memory_utilization: 0.6, max_model_len: 256 });
    expect(bad.status, JSON.stringify(bad.json)).toBe(200);
    const failed = await waitFor('the launch to fail', async () => {
      const { json } = await call('GET', '/v1/models/broken');
      return json.status === 'failed' ? json : null;
    }, 60_000);
    expect(failed.last_error).toMatch(/gave up after 0 restarts/);
    const gpu = (await call('GET', '/v1/cluster/devices')).json.find((d: any) => d.kind === 'gpu');
    expect(gpu.memory_claimed).toBe(0);

    const good = await call('POST', '/v1/models', { model_name: 'stories', model_uid: 'good', gpu_memory_utilization: 0.6, max_model_len: 256 });
    expect(good.status, JSON.stringify(good.json)).toBe(200);
    await waitFor('the second launch to be ready', async () => (await call('GET', '/v1/models/good')).json.status === 'ready', 60_000);
    const chat = await call('POST', '/v1/completions', { model: 'good', prompt: 'Once upon a time', max_tokens: 4 });
    expect(chat.status).toBe(200);
  });
});
