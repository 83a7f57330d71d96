// What each engine can do, declared once: the formats and quantizations it loads, the model types
// and request abilities it serves, the KV cache dtypes and tensor parallelism it honours, and the
// engine parameters its runner takes. A launch asking for anything else is refused before it
// claims memory; the planner suggests nothing else; the catalog lists only abilities served.
import { ENGINE_KWARGS, RUNNER_ENGINE_KWARGS, type EngineKwarg, type KvCacheDtype, type ModelType } from '@pagoda/protocol';
import type { ModelAbility, ModelFormat, ModelSpec } from './family.ts';

export const ENGINE_NAMES = ['builtin', 'vllm', 'llama.cpp', 'remote'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export interface EngineCapability {
  /** Formats it loads, and per format the quantizations (null: any the spec lists). */
  formats: Partial<Record<ModelFormat, readonly string[] | null>>;
  /** Quantizations it applies at load to an unquantized (safetensors) LLM checkpoint, as vLLM's --quantization fp8. */
  online_quantizations: readonly string[];
  model_types: readonly ModelType[];
  /** Abilities a request can use and get served: an ability is listed only when such a request works. */
  abilities: readonly ModelAbility[];
  kv_cache_dtypes: readonly KvCacheDtype[];
  /** GPUs one replica may span (1: no tensor parallelism). */
  max_tensor_parallel_size: number;
  /** Engine parameters its runner takes; request_limits is the proxy's and always allowed. */
  engine_kwargs: readonly EngineKwarg[];
}

/** Every engine parameter a runner may take (all of ENGINE_KWARGS but the proxy's request_limits). */
const ALL_KWARGS = RUNNER_ENGINE_KWARGS;

export const ENGINE_CAPABILITIES: Record<EngineName, EngineCapability> = {
  builtin: {
    // AWQ / GPTQ / FP8 checkpoints carry their quantization_config, which the engine reads at load;
    // its int4 kernels take 4-bit GPTQ only (native/src/model/quantization_config.cpp refuses other bits).
    formats: { safetensors: ['none'], awq: null, gptq: ['Int4'], fp8: null },
    // --quantization fp8: per-channel e4m3 weights quantized at load (native/src/model/quantization_config.h).
    online_quantizations: ['fp8'],
    model_types: ['LLM', 'embedding', 'rerank'],
    // tools: tool_choice required / named by grammar, auto with the family's --tool-call-parser;
    // reasoning: the family's --reasoning-parser (docs/structured-output.md).
    abilities: ['chat', 'generate', 'tools', 'reasoning', 'embed', 'rerank'],
    // fp8 is e4m3 on both backends (native/src/backend/cpu/attention.h, cuda/fp8_kv.cuh); e5m2 is not kept.
    kv_cache_dtypes: ['auto', 'bfloat16', 'fp8', 'fp8_e4m3'],
    // One GPU per replica (native/src/engine/llm_engine.cpp refuses more).
    max_tensor_parallel_size: 1,
    engine_kwargs: ALL_KWARGS,
  },
  vllm: {
    formats: { safetensors: ['none'], awq: null, gptq: null, fp8: null },
    online_quantizations: ['fp8'],
    model_types: ['LLM'],
    // Tool calls and reasoning need vLLM's parser flags, which the runner does not pass.
    abilities: ['chat', 'generate'],
    kv_cache_dtypes: ['auto', 'bfloat16', 'fp8', 'fp8_e4m3', 'fp8_e5m2'],
    max_tensor_parallel_size: 64,
    engine_kwargs: ALL_KWARGS,
  },
  'llama.cpp': {
    formats: { gguf: null },
    online_quantizations: [],
    model_types: ['LLM'],
    abilities: ['chat', 'generate'],
    kv_cache_dtypes: ['auto'],
    max_tensor_parallel_size: 1,
    // llama-server takes the rest from the GGUF file or decides it (packages/runner llamacpp.ts).
    engine_kwargs: ['max_model_len', 'max_num_seqs', 'max_num_batched_tokens', 'seed'],
  },
  // The upstream OpenAI server serves whatever it serves; the spec only names the model.
  remote: {
    formats: { safetensors: null, gguf: null, awq: null, gptq: null, fp8: null },
    online_quantizations: [],
    model_types: ['LLM'],
    abilities: ['chat', 'generate'],
    kv_cache_dtypes: ['auto'],
    max_tensor_parallel_size: 1,
    engine_kwargs: [],
  },
};

/** Quantizations some engine applies at load to an unquantized checkpoint. */
export const ONLINE_QUANTIZATIONS: readonly string[] = [...new Set(Object.values(ENGINE_CAPABILITIES).flatMap((c) => c.online_quantizations))];

/**
 * The quantizations of `spec` that `engine` can run (empty: none): those published for it, and for an
 * unquantized LLM checkpoint those the engine applies at load.
 */
export function engineQuantizations(engine: EngineName, spec: ModelSpec, modelType: ModelType = 'LLM'): string[] {
  const cap = ENGINE_CAPABILITIES[engine];
  const allowed = cap.formats[spec.model_format];
  if (allowed === undefined) return [];
  const published = allowed === null ? [...spec.quantizations] : spec.quantizations.filter((q) => allowed.includes(q));
  const online = spec.model_format === 'safetensors' && modelType === 'LLM' && published.length > 0 ? cap.online_quantizations : [];
  return [...published, ...online.filter((q) => !published.includes(q))];
}

/** What a launch asks of its engine: its engine parameters and GPUs per replica. */
export interface EngineDemand {
  /** The launch request (or anything holding its engine parameters by name). */
  kwargs: Partial<Record<EngineKwarg, unknown>>;
  /** GPUs per replica the request implies (tensor_parallel_size, else a numeric n_gpu), or null. */
  tensorParallelSize: number | null;
  modelType: string;
}

/** Why `engine` cannot serve this launch (with what to change), or null when it can. */
export function engineRefusal(engine: EngineName, demand: EngineDemand): { message: string; param: string } | null {
  const cap = ENGINE_CAPABILITIES[engine];
  if (!(cap.model_types as readonly string[]).includes(demand.modelType)) {
    return { message: `engine '${engine}' does not serve ${demand.modelType} models; it serves ${cap.model_types.join(', ')}`, param: 'model_type' };
  }
  const given = ENGINE_KWARGS.filter((k) => k !== 'request_limits' && demand.kwargs[k] !== undefined && demand.kwargs[k] !== null);
  const unknown = given.filter((k) => !cap.engine_kwargs.includes(k));
  if (unknown.length > 0) {
    const takes = cap.engine_kwargs.length > 0 ? `it takes ${cap.engine_kwargs.join(', ')}` : 'it takes no engine parameters';
    return { message: `engine '${engine}' does not take ${unknown.join(', ')}; leave ${unknown.length > 1 ? 'them' : 'it'} out (${takes})`, param: unknown[0]! };
  }
  const kv = demand.kwargs.kv_cache_dtype as KvCacheDtype | undefined;
  if (kv !== undefined && kv !== null && !cap.kv_cache_dtypes.includes(kv)) {
    const others = ENGINE_NAMES.filter((e) => e !== 'remote' && ENGINE_CAPABILITIES[e].kv_cache_dtypes.includes(kv));
    return {
      message: `engine '${engine}' cannot keep its KV cache in ${kv}; use kv_cache_dtype ${cap.kv_cache_dtypes.map((d) => `'${d}'`).join(' or ')}${others.length > 0 ? ` (${others.map((e) => `'${e}'`).join(', ')} can use ${kv})` : ''}`,
      param: 'kv_cache_dtype',
    };
  }
  const tp = demand.tensorParallelSize;
  if (tp !== null && tp > cap.max_tensor_parallel_size) {
    const one = cap.max_tensor_parallel_size === 1;
    return {
      message: `engine '${engine}' runs a replica on ${one ? 'one GPU' : `at most ${cap.max_tensor_parallel_size} GPUs`}, not ${tp}: ${one ? 'leave tensor_parallel_size out (or 1) and n_gpu at 1, and add replicas to use more GPUs' : `use tensor_parallel_size <= ${cap.max_tensor_parallel_size}`}`,
      param: demand.kwargs.tensor_parallel_size != null ? 'tensor_parallel_size' : 'n_gpu',
    };
  }
  return null;
}

/** The abilities of a model that some engine able to run one of its specs serves. */
export function servedAbilities(abilities: readonly ModelAbility[], specs: readonly ModelSpec[]): ModelAbility[] {
  const served = new Set(ENGINE_NAMES.filter((e) => e !== 'remote' && specs.some((s) => engineQuantizations(e, s).length > 0)).flatMap((e) => ENGINE_CAPABILITIES[e].abilities));
  return abilities.filter((a) => served.has(a));
}
