// A launch asks only what its engine can do: anything else is refused with the reason before any
// memory is claimed or job queued; the plan suggests nothing the engine cannot do; a KV cache dtype
// the engine honours is planned at its size and travels to the runner. One worker with two declared
// 16 GiB GPUs, played over Redis (declared_cluster.ts).
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerQueueName } from '@pagoda/protocol';
import { GiB } from './platform_helpers.ts';
import { startDeclaredCluster, type DeclaredCluster } from './declared_cluster.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let c: DeclaredCluster;
beforeAll(async () => {
  c = await startDeclaredCluster('sqlite', 2, 16 * GiB);
});
afterAll(async () => {
  await c?.close();
});

async function nothingClaimed(): Promise<void> {
  expect((await c.call('GET', '/v1/models?all=1')).json.data).toEqual([]);
  const devices = (await c.call('GET', '/v1/cluster/devices')).json;
  expect(devices.filter((d: any) => d.kind === 'gpu').map((d: any) => d.memory_claimed)).toEqual([0, 0]);
  expect(await c.server.platform.db.prisma.gpuClaim.count()).toBe(0);
}

async function queuedJobs(): Promise<any[]> {
  const q = new Queue(workerQueueName('w1'), { connection: { url: REDIS_URL }, prefix: c.prefix });
  try {
    return (await q.getJobs(['waiting', 'delayed', 'prioritized'])).map((j) => j.data);
  } finally {
    await q.close();
  }
}

const stories = { model_name: 'stories', gpu_memory_utilization: 0.3, max_model_len: 256 };

describe('engine capabilities at launch', () => {
  it('builtin refuses kv_cache_dtype fp8_e5m2 with the reason, before anything is claimed or queued', async () => {
    for (const path of ['/v1/models', '/api/plan']) {
      const res = await c.call('POST', path, { ...stories, model_uid: 'e5m2', kv_cache_dtype: 'fp8_e5m2' });
      expect(res.status, JSON.stringify(res.json)).toBe(400);
      expect(res.json.error.param).toBe('kv_cache_dtype');
      expect(res.json.error.message).toMatch(
        /engine 'builtin' cannot keep its KV cache in fp8_e5m2; use kv_cache_dtype 'auto' or 'bfloat16' or 'fp8' or 'fp8_e4m3' \('vllm' can use fp8_e5m2\)/,
      );
    }
    await nothingClaimed();
    expect(await queuedJobs()).toEqual([]);
  });

  it('builtin refuses a replica over two GPUs, by tensor_parallel_size or by n_gpu', async () => {
    const tp = await c.call('POST', '/v1/models', { ...stories, model_uid: 'tp', tensor_parallel_size: 2 });
    expect(tp.status, JSON.stringify(tp.json)).toBe(400);
    expect(tp.json.error).toMatchObject({ param: 'tensor_parallel_size', message: expect.stringMatching(/engine 'builtin' runs a replica on one GPU, not 2/) });
    const ngpu = await c.call('POST', '/v1/models', { ...stories, model_uid: 'tp', n_gpu: 2 });
    expect(ngpu.status).toBe(400);
    expect(ngpu.json.error.param).toBe('n_gpu');
    await nothingClaimed();
    expect(await queuedJobs()).toEqual([]);
  });

  it('a kv_cache_dtype builtin honours is accepted, shown and sent to the worker with the launch', async () => {
    const res = await c.call('POST', '/v1/models', { ...stories, model_uid: 'bf16kv', kv_cache_dtype: 'bfloat16' });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect((await c.call('GET', '/v1/models/bf16kv')).json.engine_kwargs.kv_cache_dtype).toBe('bfloat16');
    const jobs = await queuedJobs();
    expect(jobs.map((j) => [j.model_uid, j.engine_kwargs.kv_cache_dtype])).toEqual([['bf16kv', 'bfloat16']]);
    expect((await c.call('DELETE', '/v1/models/bf16kv')).status).toBe(200);
  });

  it('the plan never suggests tensor parallelism to an engine that cannot do it', async () => {
    // 7B in bfloat16 does not fit one 16 GiB GPU at 0.9; over two it would.
    const big = { model_name: 'qwen2.5-instruct', model_size_in_billions: 7, max_model_len: 4096 };
    const builtin = (await c.call('POST', '/api/plan', big)).json;
    expect(builtin.fits).toBe(false);
    expect(builtin.plan.suggestions.map((s: any) => s.setting)).not.toContain('tensor_parallel_size');
    expect(builtin.message).not.toMatch(/tensor_parallel_size/);
    const vllm = (await c.call('POST', '/api/plan', { ...big, model_engine: 'vllm' })).json;
    expect(vllm.plan.suggestions).toContainEqual(expect.objectContaining({ setting: 'tensor_parallel_size', value: 2 }));
  });

  it('an fp8 KV cache (vllm) is planned at one byte per element: half the bytes per token, twice the tokens', async () => {
    const small = { model_name: 'qwen2.5-instruct', model_size_in_billions: 1.5, model_engine: 'vllm', max_model_len: 4096 };
    const auto = (await c.call('POST', '/api/plan', small)).json.plan;
    const fp8 = (await c.call('POST', '/api/plan', { ...small, kv_cache_dtype: 'fp8' })).json.plan;
    expect(fp8.settings.kv_element_bytes).toBe(1);
    expect(auto.settings.kv_element_bytes).toBe(2);
    expect(fp8.kv_bytes_per_token * 2).toBe(auto.kv_bytes_per_token);
    const [a, f] = [auto.replicas[0].gpus[0], fp8.replicas[0].gpus[0]];
    expect(f.kv_cache).toBe(a.kv_cache);
    expect(Math.abs(f.kv_cache_tokens - 2 * a.kv_cache_tokens)).toBeLessThanOrEqual(fp8.settings.block_size);
  });
});
