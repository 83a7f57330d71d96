// The memory plan against the engine's profile measured on the H200 (bench/results/h200-memory-profile-*.json,
// pagoda-bench --profile-only, dummy weights): weights, activations and overhead predicted from config.json
// to the byte; the decode graphs' reserve covers what their capture took; fed the measured figures, the
// planner's block arithmetic gives the engine's KV blocks exactly, and from config.json alone the plan
// shows the KV capacity the engine at this commit takes; and a launch the engine would refuse for memory
// (Qwen2.5-32B at 0.5 with its 32K context) is refused by the launch route before anything is claimed or queued.
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerQueueName } from '@pagoda/protocol';
import { findSpec } from '../src/catalog/index.ts';
import { cudaTotalBytes, kvBytesPerToken } from '../src/planner/index.ts';
import { startDeclaredCluster, type DeclaredCluster } from './declared-cluster.ts';
import {
  componentRows,
  engineBlocks,
  engineGraphCharge,
  graphsCaptured,
  loadProfileResults,
  planSettings,
  predict,
  shapeArch,
  type ProfileRun,
} from './measured-profiles.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const results = loadProfileResults();
const loaded = results.runs.filter((r): r is ProfileRun & { measured: NonNullable<ProfileRun['measured']> } => r.loaded && !!r.measured);

/** The engine's blocks at `utilization` by this commit's arithmetic on a run's measured profile (which no utilization changes). */
const blocksNow = (run: (typeof loaded)[number], utilization: number) =>
  engineBlocks(run, results.gpu_total, utilization, engineGraphCharge(run));

describe('the planner against the engine on the H200', () => {
  it('has the three shapes at gpu_memory_utilization 0.9, and 0.5 for the two that fit there', () => {
    expect(loaded.map((r) => r.run).sort()).toEqual(
      ['llama-3-8b-u0.5', 'llama-3-8b-u0.9', 'llama-3-8b-u0.9-seqs64', 'qwen2.5-32b-u0.9', 'qwen2.5-7b-u0.5', 'qwen2.5-7b-u0.9'].sort(),
    );
  });

  it('predicts weights, activations, overhead, the CUDA graphs\' reserve and the KV cache as the engine divides them', () => {
    for (const run of loaded) {
      const predicted = predict(run, results.gpu_total);
      for (const [name, p, m] of componentRows(predicted, run, results.gpu_total)) {
        expect(m, `${run.run} ${name} measured`).toBeGreaterThan(0);
        expect(Math.abs(p / m - 1), `${run.run} ${name}: predicted ${p}, engine ${m}`).toBeLessThanOrEqual(0.05);
      }
      // Weights, activation buffers and the rest of the profile's peak follow from config.json to the byte.
      expect(predicted.weights).toBe(run.measured.weights_bytes);
      expect(predicted.activations).toBe(run.measured.activation_buffer_bytes);
      expect(predicted.overhead).toBe(run.measured.overhead_bytes);
      expect(predicted.activations + predicted.overhead).toBe(run.measured.peak_activation_bytes);
      // The reserve covers what each shape's capture took, within 10% of it, so the charge is the
      // reserve: known before anything loads.
      const captured = graphsCaptured(run.measured);
      expect(predicted.cuda_graphs, run.run).toBeGreaterThanOrEqual(captured);
      expect(predicted.cuda_graphs / captured, run.run).toBeLessThan(1.1);
      expect(engineGraphCharge(run)).toBe(predicted.cuda_graphs);
    }
  });

  it('gives the engine\'s KV capacity: its total from nvidia-smi\'s, its blocks from the measured profile', () => {
    // What a worker reports (nvidia-smi memory.total) less what the driver keeps is what CUDA gives the
    // engine (DRIVER_RESERVED_BYTES is this run's difference; the check keeps the two together).
    for (const run of loaded) expect(cudaTotalBytes(results.gpu_total)).toBe(run.measured.total_bytes);
    for (const run of loaded) {
      // The block arithmetic, fed what the profiled engine charged, gives the blocks it allocated.
      const blocks = engineBlocks(run, results.gpu_total, run.settings.gpu_memory_utilization, run.measured.cuda_graph_bytes);
      expect(blocks, run.run).toBe(run.measured.kv_blocks);
      expect(blocks * run.settings.block_size).toBe(run.measured.kv_cache_tokens);
      expect(kvBytesPerToken(run.arch, planSettings(run)) * run.settings.block_size).toBe(run.measured.kv_bytes_per_block);
      // From config.json alone the plan shows the engine's capacity to the token: the profile is of the
      // engine that charges the graphs' fixed reserve, so the plan equals what it allocated.
      const tokens = blocksNow(run, run.settings.gpu_memory_utilization) * run.settings.block_size;
      expect(predict(run, results.gpu_total).kv_cache_tokens, run.run).toBe(tokens);
      expect(predict(run, results.gpu_total).kv_cache_tokens, run.run).toBe(run.measured.kv_cache_tokens);
    }
  });

  it('the same profile at 0.5 leaves the 32B shape too few blocks for its 32,768-token context', () => {
    const run = loaded.find((r) => r.run === 'qwen2.5-32b-u0.9')!;
    const tokens = blocksNow(run, 0.5) * run.settings.block_size;
    expect(tokens).toBeLessThan(32_768);
    expect(tokens).toBeGreaterThan(30_000);
    // The engine itself refused that load on the device, naming the same capacity.
    const refused = results.runs.find((r) => r.run === 'qwen2.5-32b-u0.5')!;
    expect(refused.loaded).toBe(false);
    expect(refused.error).toContain(`it can hold ${tokens} tokens`);
    // The profile does not depend on the utilization: the 0.5 and 0.9 loads of the other shapes measured the same.
    for (const shape of ['llama-3-8b', 'qwen2.5-7b']) {
      const [a, b] = ['u0.9', 'u0.5'].map((u) => loaded.find((r) => r.run === `${shape}-${u}`)!.measured);
      expect([a!.peak_activation_bytes, a!.cuda_graph_bytes, a!.weights_bytes]).toEqual([
        b!.peak_activation_bytes,
        b!.cuda_graph_bytes,
        b!.weights_bytes,
      ]);
    }
  });
});

describe('a launch the engine would refuse for memory', () => {
  let c: DeclaredCluster;
  beforeAll(async () => {
    // One worker declaring one H200 as nvidia-smi reports it.
    c = await startDeclaredCluster('sqlite', 1, results.gpu_total);
  });
  afterAll(async () => {
    await c?.close();
  });

  it('Qwen2.5-32B at 0.5 is refused by the launch route with the engine\'s limit; nothing is claimed or queued', async () => {
    const run = loaded.find((r) => r.run === 'qwen2.5-32b-u0.9')!;
    // The catalog's Qwen2.5-32B is the shape the device loaded.
    expect(findSpec('qwen2.5-instruct', null, 32).spec.architecture).toMatchObject(shapeArch('qwen2.5-32b.json'));
    const engineTokens = blocksNow(run, 0.5) * run.settings.block_size;
    const launch = { model_name: 'qwen2.5-instruct', model_size_in_billions: 32, model_uid: 'q32', gpu_memory_utilization: 0.5 };
    const res = await c.call('POST', '/v1/models', launch);
    expect(res.status, JSON.stringify(res.json)).toBe(409);
    expect(res.json.error.message).toMatch(/does not fit/);
    expect(res.json.error.message).toMatch(/fewer than max_model_len 32768/);
    const len = res.json.plan.suggestions.find((s: any) => s.setting === 'max_model_len');
    expect(len.value).toBe(engineTokens);
    expect((await c.call('GET', '/v1/models?all=1')).json.data).toEqual([]);
    const devices = (await c.call('GET', '/v1/cluster/devices')).json;
    expect(devices.filter((d: any) => d.kind === 'gpu').map((d: any) => d.memory_claimed)).toEqual([0]);
    expect(await c.server.platform.db.prisma.gpuClaim.count()).toBe(0);
    const q = new Queue(workerQueueName('w1'), { connection: { url: REDIS_URL }, prefix: c.prefix });
    expect(await q.count()).toBe(0);
    await q.close();
    // At 0.9 the same launch fits, with the KV capacity the engine takes there.
    const fits = await c.call('POST', '/api/plan', { ...launch, gpu_memory_utilization: 0.9 });
    expect(fits.json.fits).toBe(true);
    expect(fits.json.plan.replicas[0].gpus[0].kv_cache_tokens).toBe(blocksNow(run, 0.9) * run.settings.block_size);
  });
});
