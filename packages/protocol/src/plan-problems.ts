// Why a launch does not fit, as values (kind, GPUs, bytes, by how much) beside the English sentence:
// clients word them in their own language; GPUs of a worker with the same numbers are one problem.

export type PlanProblem =
  | { kind: 'context_too_long'; max_model_len: number; max_position_embeddings: number }
  | { kind: 'tensor_parallel_heads'; tensor_parallel_size: number; heads: number; kv_heads: number; valid: number[] }
  | { kind: 'no_gpus' }
  /** No worker is registered (or alive) to run the model. */
  | { kind: 'no_workers' }
  /** On the CPU engine: a replica needs `need` bytes of host memory, the roomiest worker has `room`. */
  | { kind: 'cpu_memory'; worker: string; need: number; room: number; short: number }
  | { kind: 'no_eligible_gpus' }
  | { kind: 'no_worker'; worker: string; workers: string[] }
  | { kind: 'no_gpu_idx'; gpu_idx: number[]; worker: string | null }
  | { kind: 'replicas_short'; placed: number; replicas: number }
  | { kind: 'too_few_gpus'; worker: string; eligible: number; tensor_parallel_size: number }
  /** Weights, activations, CUDA graphs and overhead exceed the budget (utilization × total) by `over` bytes. */
  | {
      kind: 'over_budget';
      worker: string;
      gpus: number[];
      total: number;
      weights: number;
      activations: number;
      cuda_graphs: number;
      overhead: number;
      budget: number;
      gpu_memory_utilization: number;
      over: number;
    }
  /** The KV cache holds fewer tokens than one max_model_len sequence needs. */
  | {
      kind: 'kv_too_small';
      worker: string;
      gpus: number[];
      total: number;
      kv_cache: number;
      kv_cache_tokens: number;
      max_model_len: number;
    }
  /** The GPUs have `available` bytes unclaimed; a shard claims `claim`, `short` more than that. */
  | { kind: 'gpu_short'; worker: string; gpus: number[]; total: number; available: number; claim: number; short: number };

export type PlanProblemKind = PlanProblem['kind'];

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** The GPUs a problem names, as a sentence starts: "GPU 0 (80.00 GiB)" or "GPU 0, 1 (80.00 GiB each)". */
function gpusOf(gpus: number[], total: number): string {
  return `GPU ${gpus.join(', ')} (${gib(total)}${gpus.length > 1 ? ' each' : ''})`;
}

/** The problem in English, as the API's message says it. */
export function planProblemMessage(p: PlanProblem): string {
  switch (p.kind) {
    case 'context_too_long':
      return `max_model_len ${p.max_model_len} exceeds the model's max_position_embeddings (${p.max_position_embeddings})`;
    case 'tensor_parallel_heads':
      return `tensor_parallel_size ${p.tensor_parallel_size} does not divide the model's ${p.heads} attention heads and ${p.kv_heads} KV heads; use one of ${p.valid.join(', ')}`;
    case 'no_gpus':
      return 'the cluster reports no GPUs';
    case 'no_workers':
      return 'no worker is registered: start one with `pagoda worker --server URL --redis URL`';
    case 'cpu_memory':
      return `a replica needs ${gib(p.need)} of host memory, the roomiest worker (${p.worker}) has ${gib(p.room)} unclaimed`;
    case 'no_eligible_gpus':
      return 'no GPUs are eligible';
    case 'no_worker':
      return `no worker '${p.worker}' with GPUs; workers: ${p.workers.join(', ') || 'none'}`;
    case 'no_gpu_idx':
      return `gpu_idx ${p.gpu_idx.join(', ')} does not exist${p.worker ? ` on ${p.worker}` : ' on any worker'}`;
    case 'replicas_short':
      return `only ${p.placed} of ${p.replicas} replicas found room`;
    case 'too_few_gpus':
      return `${p.worker} has ${p.eligible} eligible GPU${p.eligible === 1 ? '' : 's'}, tensor_parallel_size needs ${p.tensor_parallel_size}`;
    case 'over_budget':
      return `${p.worker}: ${gpusOf(p.gpus, p.total)}: weights ${gib(p.weights)} + activations ${gib(p.activations)} + CUDA graphs ${gib(p.cuda_graphs)} + overhead ${gib(p.overhead)} exceed gpu_memory_utilization ${p.gpu_memory_utilization} × total = ${gib(p.budget)} by ${gib(p.over)}`;
    case 'kv_too_small':
      return `${p.worker}: ${gpusOf(p.gpus, p.total)}: the KV cache (${gib(p.kv_cache)}) holds ${p.kv_cache_tokens} tokens, fewer than max_model_len ${p.max_model_len}`;
    case 'gpu_short':
      return `${p.worker}: GPU ${p.gpus.join(', ')} ${p.gpus.length > 1 ? 'have' : 'has'} ${gib(p.available)} available of ${gib(p.total)}${p.gpus.length > 1 ? ' each' : ''}, a shard claims ${gib(p.claim)}`;
  }
}

/** Problems with GPUs merged: per worker, GPUs whose problem has the same numbers become one entry. */
export function mergePlanProblems(list: readonly PlanProblem[]): PlanProblem[] {
  const out: PlanProblem[] = [];
  const seen = new Map<string, Extract<PlanProblem, { gpus: number[] }>>();
  for (const p of list) {
    if (p.kind !== 'over_budget' && p.kind !== 'kv_too_small' && p.kind !== 'gpu_short') {
      out.push(p);
      continue;
    }
    const { gpus, ...rest } = p;
    const key = JSON.stringify(rest);
    const same = seen.get(key);
    if (same) same.gpus.push(...gpus);
    else {
      const copy = { ...p, gpus: [...gpus] };
      seen.set(key, copy);
      out.push(copy);
    }
  }
  return out;
}
