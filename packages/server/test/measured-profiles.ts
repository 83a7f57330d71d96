// The engine's memory profiles measured on the H200 (bench/results/h200-memory-profile-*.json, from
// pagoda-bench --profile-only) beside the planner's prediction for the same shape and settings.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { archFromConfig, type ArchNumbers } from '../src/catalog/index.ts';
import { CUDA_GRAPH_BYTES_PER_LAYER, cudaTotalBytes, gpuMemory, kvCacheBlocks, resolveParams, type ResolvedParams } from '../src/planner/index.ts';
import { decodeGraphCount } from '../src/planner/engine-allocations.ts';
import type { GpuMemory } from '@pagoda/protocol';

export const PROFILE_RESULTS = 'bench/results/h200-memory-profile-53430cc.json';
const ROOT = new URL('../../../', import.meta.url);
const MiB = 2 ** 20;

/** Where each shape the device call carried lives in this repository. */
const CONFIGS: Record<string, string> = {
  'llama-3-8b.json': '../shared/configs/llama-3-8b.json',
  'qwen2.5-7b.json': '../shared/configs/qwen2.5-7b.json',
  'qwen2.5-32b.json': 'bench/configs/qwen2.5-32b.json',
};

/** One load as the engine measured it (the memory object pagoda-bench --profile-only prints). */
export interface MeasuredMemory {
  total_bytes: number;
  budget_bytes: number;
  weights_bytes: number;
  peak_activation_bytes: number;
  activation_buffer_bytes: number;
  overhead_bytes: number;
  /** What the KV cache was charged for the decode graphs. */
  cuda_graph_bytes: number;
  /** What the capture took; absent in profiles from before the engine reserved kCudaGraphBytesPerLayer
   * (864b435), whose charge was the capture itself. */
  cuda_graph_measured_bytes?: number;
  kv_bytes_per_block: number;
  kv_blocks: number;
  kv_cache_bytes: number;
  kv_cache_tokens: number;
  used_after_load_bytes: number;
}

export interface ProfileRun {
  run: string;
  shape: string;
  arch: ArchNumbers;
  /** The settings as the engine ran them. */
  settings: { gpu_memory_utilization: number; max_model_len: number; max_num_seqs: number; max_num_batched_tokens: number; block_size: number };
  loaded: boolean;
  error?: string;
  measured?: MeasuredMemory;
}

export interface ProfileResults {
  /** nvidia-smi's memory.total in bytes: what a worker reports for this GPU. */
  gpu_total: number;
  runs: ProfileRun[];
}

export function shapeArch(configFile: string): ArchNumbers {
  const path = CONFIGS[basename(configFile)];
  if (!path) throw new Error(`no config in this repository for ${configFile}`);
  const { arch, problems } = archFromConfig(JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')));
  if (!arch) throw new Error(`${path}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  return arch;
}

export function loadProfileResults(file = PROFILE_RESULTS): ProfileResults {
  const doc = JSON.parse(readFileSync(new URL(file, ROOT), 'utf8'));
  return {
    gpu_total: doc.nvidia_smi.memory_total_mib * MiB,
    runs: doc.runs.map((r: Record<string, any>) => ({
      run: r.run,
      shape: basename(r.model, '.json'),
      arch: shapeArch(r.model),
      settings: r.settings,
      loaded: r.loaded,
      error: r.error,
      measured: r.memory,
    })),
  };
}

/** The planner's settings for a run: what the engine ran with, the engine's own defaults for the rest
 * (a load the engine refused records 0 for what it had not resolved yet). */
export function planSettings(run: ProfileRun): ResolvedParams {
  return resolveParams(
    {
      gpu_memory_utilization: run.settings.gpu_memory_utilization,
      ...(run.settings.max_model_len > 0 ? { max_model_len: run.settings.max_model_len } : {}),
      max_num_seqs: run.settings.max_num_seqs,
      ...(run.settings.max_num_batched_tokens > 0 ? { max_num_batched_tokens: run.settings.max_num_batched_tokens } : {}),
      block_size: run.settings.block_size,
    },
    run.arch,
  );
}

/** The planner's prediction for a run on a GPU of `gpuTotal` (nvidia-smi) bytes. */
export function predict(run: ProfileRun, gpuTotal: number): GpuMemory {
  return gpuMemory(run.arch, planSettings(run), gpuTotal);
}

/** What the decode graphs' capture took on the device. */
export function graphsCaptured(m: MeasuredMemory): number {
  return m.cuda_graph_measured_bytes ?? m.cuda_graph_bytes;
}

/**
 * What the engine at this commit charges the KV cache for the decode graphs of a measured profile: the
 * profile's own charge when it recorded one, else (an older profile) the engine's rule applied to the
 * capture it measured — its reserve per graph per layer, or the capture where that took more
 * (native/src/backend/backend.h cuda_graph_reserve_bytes).
 */
export function engineGraphCharge(run: ProfileRun & { measured: MeasuredMemory }): number {
  const m = run.measured;
  if (m.cuda_graph_measured_bytes !== undefined) return m.cuda_graph_bytes;
  const reserve = decodeGraphCount(planSettings(run)) * run.arch.num_hidden_layers * CUDA_GRAPH_BYTES_PER_LAYER;
  return Math.max(m.cuda_graph_bytes, reserve);
}

/** The engine's KV blocks by its arithmetic (choose_num_blocks) on a measured profile, with a given graph charge. */
export function engineBlocks(run: ProfileRun & { measured: MeasuredMemory }, gpuTotal: number, utilization: number, graphs: number): number {
  const m = run.measured;
  return kvCacheBlocks({
    cuda_total: cudaTotalBytes(gpuTotal),
    gpu_memory_utilization: utilization,
    weights: m.weights_bytes,
    peak_activation: m.peak_activation_bytes,
    cuda_graphs: graphs,
    kv_bytes_per_block: m.kv_bytes_per_block,
    block_size: run.settings.block_size,
  });
}

/**
 * Component rows: name, predicted from config.json, the engine's. Weights, activations and overhead
 * are as measured; the CUDA graphs and the KV cache as this commit's engine divides the measured
 * profile (for a profile taken at this commit, exactly what it measured).
 */
export function componentRows(p: GpuMemory, run: ProfileRun & { measured: MeasuredMemory }, gpuTotal: number): [string, number, number][] {
  const m = run.measured;
  const graphs = engineGraphCharge(run);
  const blocks = engineBlocks(run, gpuTotal, run.settings.gpu_memory_utilization, graphs);
  return [
    ['weights', p.weights, m.weights_bytes],
    ['activations', p.activations, m.activation_buffer_bytes],
    ['overhead (CUDA context, page rounding)', p.overhead, m.overhead_bytes],
    ['CUDA graphs (reserved)', p.cuda_graphs, graphs],
    ['KV cache', p.kv_cache_tokens * p.kv_bytes_per_token, blocks * m.kv_bytes_per_block],
    ['KV cache tokens', p.kv_cache_tokens, blocks * run.settings.block_size],
  ];
}
