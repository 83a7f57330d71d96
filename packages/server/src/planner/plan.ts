// The memory plan of a launch: per GPU weights / activations / CUDA graphs / KV cache / free, the
// workers and GPUs each replica goes to, or a refusal with the numbers and the settings that would fit.
import { z } from 'zod';
import { fieldIssue, planProblemMessage, type FieldIssue, type GpuPlan, type MemoryPlan, type PlanProblem, type ReplicaPlan, type SuggestedSetting, type Suggestion } from '@pagoda/protocol';
import { modelTypeOf, type ArchNumbers } from '../catalog/architecture.ts';
import type { EngineCapability } from '../catalog/engine-capabilities.ts';
import { resolveParams, type PlanParamsInput, type ResolvedParams } from './engine-params.ts';
import { gpuMemory, minimumUtilization } from './memory.ts';
import {
  availableBytes,
  PlannerDeviceSchema,
  eligibleDevices,
  placeReplicas,
  type PlannerDevice,
  type PlannerDeviceInput,
  type GpuClaimBytes,
  type PlacementResult,
} from './placement.ts';

/** Bad planning input (a setting out of range); `param` names it. Routes answer 400. */
export class PlanInputError extends Error {
  constructor(
    message: string,
    readonly param: string | null,
    /** The problem as values (zod's issue), for clients that word it themselves. */
    readonly issue: FieldIssue | null = null,
  ) {
    super(message);
    this.name = 'PlanInputError';
  }
}

export interface PlanModel {
  arch: ArchNumbers;
  /** Whole-model weight bytes (quantized specs); left out: parameters × the compute dtype. */
  weights_bytes?: number;
  /** The family's context length: the default max_model_len when it is below max_position_embeddings. */
  context_length?: number;
}

export interface PlanRequest {
  model: PlanModel;
  params: PlanParamsInput;
  devices: readonly PlannerDeviceInput[];
  replicas?: number;
  worker_ip?: string | null;
  gpu_idx?: readonly number[] | null;
  /** What the chosen engine can be told: suggestions stay within it. Left out: any setting. */
  engine?: Pick<EngineCapability, 'max_tensor_parallel_size' | 'engine_kwargs'>;
}

export type { GpuPlan, ReplicaPlan, SuggestedSetting, Suggestion };

/** The plan clients see (MemoryPlan), with every resolved setting, the weights and the claims. */
export interface Plan extends MemoryPlan {
  settings: ResolvedParams;
  /** The whole model's weights. */
  weights_bytes: number;
  /** Bytes to claim per GPU when it fits. */
  claims: GpuClaimBytes[];
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Tensor-parallel sizes the model's heads allow (vLLM: heads divisible; KV heads divisible or replicated). */
export function validTensorParallel(arch: ArchNumbers, t: number): boolean {
  const kv = arch.num_key_value_heads;
  return arch.num_attention_heads % t === 0 && (kv % t === 0 || t % kv === 0);
}

function gpuPlan(
  model: PlanModel,
  params: ResolvedParams,
  device: PlannerDevice,
  available: number,
): GpuPlan {
  const memory = gpuMemory(model.arch, params, device.total, model.weights_bytes);
  return {
    worker: device.worker,
    index: device.index,
    total: device.total,
    available,
    claim: memory.budget,
    free_after: available - memory.budget,
    ...memory,
  };
}

/** Places the replicas at these settings; a GPU whose KV cache would not hold max_model_len is unusable. */
function tryPlace(
  model: PlanModel,
  params: ResolvedParams,
  devices: readonly PlannerDevice[],
  req: PlanRequest,
): PlacementResult {
  return placeReplicas(devices, {
    tensorParallelSize: params.tensor_parallel_size,
    replicas: req.replicas ?? 1,
    workerIp: req.worker_ip,
    gpuIdx: req.gpu_idx,
    claimOn: (d) => gpuMemory(model.arch, params, d.total, model.weights_bytes).budget,
    unusable: (d) => {
      const m = gpuMemory(model.arch, params, d.total, model.weights_bytes);
      if (m.kv_cache_tokens >= params.max_model_len) return null;
      // Embedding and rerank models need no KV cache: only that the rest fits.
      if (modelTypeOf(model.arch.architecture) !== 'LLM' && (params.claim_needed || m.kv_cache >= 0)) return null;
      const where = { worker: d.worker, gpus: [d.index], total: d.total };
      return m.kv_cache <= 0
        ? {
            kind: 'over_budget',
            ...where,
            weights: m.weights,
            activations: m.activations,
            cuda_graphs: m.cuda_graphs,
            overhead: m.overhead,
            budget: m.budget,
            gpu_memory_utilization: params.gpu_memory_utilization,
            over: -m.kv_cache,
          }
        : {
            kind: 'kv_too_small',
            ...where,
            kv_cache: m.kv_cache,
            kv_cache_tokens: m.kv_cache_tokens,
            max_model_len: params.max_model_len,
          };
    },
  });
}

/** Settings that would fit, each checked by placing again. */
function suggestions(
  model: PlanModel,
  params: ResolvedParams,
  devices: readonly PlannerDevice[],
  req: PlanRequest,
): Suggestion[] {
  const out: Suggestion[] = [];
  const fits = (p: ResolvedParams) => tryPlace(model, p, devices, req).ok;
  // A setting the engine does not take, or a tensor_parallel_size it cannot run, is no suggestion.
  const settable = (s: SuggestedSetting) => !req.engine || (req.engine.engine_kwargs as readonly string[]).includes(s);
  const maxTp = req.engine?.max_tensor_parallel_size ?? Number.POSITIVE_INFINITY;
  const { devices: pool } = eligibleDevices(devices, {
    workerIp: req.worker_ip,
    gpuIdx: req.gpu_idx,
  });
  const totals = [...new Set(pool.map((d) => d.total))];

  const lens = [
    ...new Set(
      totals.map((t) => gpuMemory(model.arch, params, t, model.weights_bytes).kv_cache_tokens),
    ),
  ]
    .filter((n) => n >= params.block_size && n < params.max_model_len)
    .sort((a, b) => b - a);
  const len = settable('max_model_len') ? lens.find((n) => fits({ ...params, max_model_len: n })) : undefined;
  if (len !== undefined)
    out.push({ setting: 'max_model_len', value: len, message: `lower max_model_len to <= ${len}` });

  const utils = [
    ...new Set(totals.map((t) => minimumUtilization(model.arch, params, t, model.weights_bytes))),
  ]
    .filter((u) => u <= 0.98 && u !== params.gpu_memory_utilization)
    .sort((a, b) => a - b);
  const util = settable('gpu_memory_utilization') ? utils.find((u) => fits({ ...params, gpu_memory_utilization: u })) : undefined;
  if (util !== undefined) {
    const verb = util > params.gpu_memory_utilization ? 'raise' : 'lower';
    const why = verb === 'lower' ? ' so that it fits beside what the GPU already holds' : '';
    out.push({
      setting: 'gpu_memory_utilization',
      value: util,
      message: `${verb} gpu_memory_utilization to ${util}${why}`,
    });
  }

  const maxGpus = Math.max(
    0,
    ...[...new Set(pool.map((d) => d.worker))].map(
      (w) => pool.filter((d) => d.worker === w).length,
    ),
  );
  const tpLimit = settable('tensor_parallel_size') ? Math.min(maxGpus, maxTp) : 0;
  for (let t = params.tensor_parallel_size + 1; t <= tpLimit; t++) {
    if (!validTensorParallel(model.arch, t)) continue;
    if (fits({ ...params, tensor_parallel_size: t })) {
      out.push({
        setting: 'tensor_parallel_size',
        value: t,
        message: `spread each replica over ${t} GPUs with tensor_parallel_size ${t}`,
      });
      break;
    }
  }
  return out;
}

function refusal(
  params: ResolvedParams,
  model: PlanModel,
  details: PlanProblem[],
  extra: Partial<Plan> = {},
): Plan {
  const problems = details.map(planProblemMessage);
  const sugg = extra.suggestions ?? [];
  const tail =
    sugg.length > 0 ? ` It would fit if you ${sugg.map((s) => s.message).join(', or ')}.` : '';
  const m = gpuMemory(model.arch, params, 0, model.weights_bytes);
  return {
    fits: false,
    message: `The model does not fit: ${problems.join('; ')}.${tail}`,
    settings: params,
    weights_bytes: m.weights * params.tensor_parallel_size,
    kv_bytes_per_token: m.kv_bytes_per_token,
    replicas: [],
    claims: [],
    problems,
    problem_details: details,
    breakdown: null,
    suggestions: sugg,
    ...extra,
  };
}

/** Plans a launch: where each replica goes and how each GPU's memory divides, or why it cannot fit. */
export function plan(req: PlanRequest): Plan {
  let params: ResolvedParams;
  try {
    params = resolveParams(req.params, req.model.arch, req.model.context_length);
  } catch (err) {
    if (err instanceof z.ZodError) {
      const issue = err.issues[0]!;
      const field = issue.path.map(String).join('.');
      throw new PlanInputError(`${issue.path.join('.')}: ${issue.message}`, field || null, fieldIssue(issue, field));
    }
    throw err;
  }
  const replicas = req.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1)
    throw new PlanInputError(`replica must be a positive integer, got ${replicas}`, 'replica');
  const devices = req.devices.map((d) => PlannerDeviceSchema.parse(d));
  const { arch } = req.model;

  if (params.max_model_len > arch.max_position_embeddings) {
    const value = arch.max_position_embeddings;
    return refusal(
      params,
      req.model,
      [{ kind: 'context_too_long', max_model_len: params.max_model_len, max_position_embeddings: value }],
      {
        suggestions: [
          { setting: 'max_model_len', value, message: `lower max_model_len to <= ${value}` },
        ],
      },
    );
  }
  if (!validTensorParallel(arch, params.tensor_parallel_size)) {
    const maxTp = req.engine?.max_tensor_parallel_size ?? Number.POSITIVE_INFINITY;
    const valid = [1, 2, 4, 8, 16].filter((t) => t <= maxTp && validTensorParallel(arch, t));
    return refusal(params, req.model, [
      {
        kind: 'tensor_parallel_heads',
        tensor_parallel_size: params.tensor_parallel_size,
        heads: arch.num_attention_heads,
        kv_heads: arch.num_key_value_heads,
        valid,
      },
    ]);
  }
  if (devices.length === 0) return refusal(params, req.model, [{ kind: 'no_gpus' }]);

  const placed = tryPlace(req.model, params, devices, req);
  if (placed.ok) {
    const byKey = new Map(devices.map((d) => [`${d.worker}#${d.index}`, d]));
    const replicaPlans = placed.replicas.map((r) => {
      const gpus = r.gpu_indices.map((index, i) =>
        gpuPlan(req.model, params, byKey.get(`${r.worker}#${index}`)!, r.available_before[i]!),
      );
      const tokens = Math.min(...gpus.map((g) => g.kv_cache_tokens));
      return {
        replica: r.replica,
        worker: r.worker,
        gpu_indices: r.gpu_indices,
        gpus,
        max_concurrency: Math.floor((tokens / params.max_model_len) * 100) / 100,
      };
    });
    const first = replicaPlans[0]!.gpus[0]!;
    const where = replicaPlans.map((r) => `${r.worker} GPU ${r.gpu_indices.join(',')}`).join('; ');
    return {
      fits: true,
      message: `fits: ${replicas} replica${replicas > 1 ? 's' : ''} on ${where}; each GPU claims ${gib(first.claim)} (weights ${gib(first.weights)}, KV cache ${gib(first.kv_cache)} = ${first.kv_cache_tokens} tokens, ${replicaPlans[0]!.max_concurrency}× max_model_len ${params.max_model_len})`,
      settings: params,
      weights_bytes: first.weights * params.tensor_parallel_size,
      kv_bytes_per_token: first.kv_bytes_per_token,
      replicas: replicaPlans,
      claims: placed.claims,
      problems: [],
      problem_details: [],
      breakdown: null,
      suggestions: [],
    };
  }

  const { devices: pool } = eligibleDevices(devices, {
    workerIp: req.worker_ip,
    gpuIdx: req.gpu_idx,
  });
  const roomiest = [...pool].sort((a, b) => availableBytes(b) - availableBytes(a))[0];
  const problems: PlanProblem[] = [...placed.reasons];
  if (placed.placed.length > 0)
    problems.unshift({ kind: 'replicas_short', placed: placed.placed.length, replicas });
  return refusal(params, req.model, problems, {
    breakdown: roomiest ? gpuPlan(req.model, params, roomiest, availableBytes(roomiest)) : null,
    suggestions: suggestions(req.model, params, devices, req),
  });
}
