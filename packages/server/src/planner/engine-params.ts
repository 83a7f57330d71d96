// The engine settings memory planning depends on, named and defaulted as the engine names and
// defaults them (native/src/engine/engine_config.h, like vLLM's), validated with zod.
import { z } from 'zod';
import type { PlanSettings } from '@pagoda/protocol';
import { DTYPE_BYTES, modelTypeOf, type ArchNumbers, type CheckpointDtype } from '../catalog/architecture.ts';

const DTYPES = [
  'auto',
  'float32',
  'bfloat16',
  'float16',
  'half',
  'float',
  'bf16',
  'fp16',
  'fp32',
] as const;
/** Bytes of one K or V element per KV cache dtype; 'auto' is the compute dtype's. */
const KV_ELEMENT_BYTES = {
  auto: null,
  fp8: 1,
  fp8_e4m3: 1,
  fp8_e5m2: 1,
  float16: 2,
  bfloat16: 2,
  float32: 4,
} as const satisfies Record<string, number | null>;
const KV_DTYPES_WITH_SIZES = Object.keys(KV_ELEMENT_BYTES) as [keyof typeof KV_ELEMENT_BYTES, ...Array<keyof typeof KV_ELEMENT_BYTES>];

export const PlanParamsSchema = z.object({
  dtype: z.enum(DTYPES).nullish(),
  max_model_len: z.number().int().positive().nullish(),
  max_num_seqs: z.number().int().positive().nullish(),
  max_num_batched_tokens: z.number().int().positive().nullish(),
  gpu_memory_utilization: z.number().gt(0).max(1).nullish(),
  tensor_parallel_size: z.number().int().positive().max(64).nullish(),
  enforce_eager: z.boolean().nullish(),
  block_size: z.number().int().positive().max(1024).nullish(),
  kv_cache_dtype: z.enum(KV_DTYPES_WITH_SIZES).nullish(),
  /** Engines that size themselves (llama.cpp) claim exactly this per GPU, not gpu_memory_utilization × total. */
  fixed_claim_bytes: z.number().int().positive().nullish(),
});
export type PlanParamsInput = z.input<typeof PlanParamsSchema>;

/** Every setting decided: what the engine will run with (the plan's settings, as clients see them, and more). */
export interface ResolvedParams extends PlanSettings {
  dtype: CheckpointDtype;
  /** Bytes of one K or V element. */
  kv_element_bytes: number;
  fixed_claim_bytes: number | null;
  /**
   * An embedding or rerank model (the engine's pooling run: no KV cache, no CUDA graphs) without a
   * gpu_memory_utilization of its own: it claims what it needs, so many fit on one GPU.
   */
  claim_needed: boolean;
}

function computeDtype(
  dtype: string | null | undefined,
  checkpoint: CheckpointDtype,
): CheckpointDtype {
  switch (dtype) {
    case 'half':
    case 'fp16':
    case 'float16':
      return 'float16';
    case 'bf16':
    case 'bfloat16':
      return 'bfloat16';
    case 'float':
    case 'fp32':
    case 'float32':
      return 'float32';
    default:
      // "auto": the checkpoint's dtype, except that float32 checkpoints run in 16 bits on a GPU (as vLLM does).
      return checkpoint === 'float32' ? 'bfloat16' : checkpoint;
  }
}

/** Defaults filled in as the engine fills them; `contextLength` (the family's) caps the default max_model_len. */
export function resolveParams(
  input: PlanParamsInput,
  arch: ArchNumbers,
  contextLength?: number,
): ResolvedParams {
  const p = PlanParamsSchema.parse(input);
  const dtype = computeDtype(p.dtype, arch.dtype);
  const maxNumSeqs = p.max_num_seqs ?? 256;
  const kvDtype = p.kv_cache_dtype ?? 'auto';
  const pooling = modelTypeOf(arch.architecture) !== 'LLM';
  const maxModelLen =
    p.max_model_len ?? Math.min(contextLength ?? arch.max_position_embeddings, arch.max_position_embeddings);
  return {
    dtype,
    max_model_len: maxModelLen,
    max_num_seqs: maxNumSeqs,
    // The engine's default with chunked prefill on.
    // The pooling run packs up to 8192 tokens a forward (native/src/engine/pooling_engine.cpp).
    max_num_batched_tokens: p.max_num_batched_tokens ?? (pooling ? Math.max(8192, maxModelLen) : Math.max(2048, maxNumSeqs)),
    gpu_memory_utilization: p.gpu_memory_utilization ?? 0.9,
    tensor_parallel_size: p.tensor_parallel_size ?? 1,
    enforce_eager: p.enforce_eager ?? false,
    block_size: p.block_size ?? 16,
    kv_cache_dtype: kvDtype,
    fixed_claim_bytes: p.fixed_claim_bytes ?? null,
    kv_element_bytes: KV_ELEMENT_BYTES[kvDtype] ?? DTYPE_BYTES[dtype],
    claim_needed: pooling && p.gpu_memory_utilization == null,
  };
}
