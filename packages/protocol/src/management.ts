// The management API's request and response shapes, in Xinference's spelling (POST /v1/models,
// /v1/models/{uid}/replicas, /api/plan, /api/keys); unknown keys are refused by name.
import { z } from 'zod';

/** What a model does: generates text (LLM), embeds text (embedding), or scores pairs (rerank). */
export const MODEL_TYPES = ['LLM', 'embedding', 'rerank'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/** A model uid: what clients put in `model`; safe in URLs, queue names and labels. */
export const ModelUidSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-" only, starting with a letter or digit');

/** A model name (catalog or registered): what launches and registrations name; checked before any lookup. */
export const ModelNameSchema = z
  .string()
  .min(1, 'name the model to launch (a catalog or registered name)')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-" only, starting with a letter or digit');

/** An API key's name. */
export const KeyNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use letters, digits, ".", "_" and "-" only (at most 64)');

/** A benchmark run's id (a UUID the server made). */
export const BenchIdSchema = z.string().uuid('is not a benchmark run id (a UUID)');

/** KV cache element types, named as vLLM names them; which ones an engine honours, the server's engine capabilities say. */
export const KV_CACHE_DTYPES = ['auto', 'bfloat16', 'fp8', 'fp8_e4m3', 'fp8_e5m2'] as const;
export type KvCacheDtype = (typeof KV_CACHE_DTYPES)[number];

/** Engine keyword arguments accepted at launch, named as vLLM names them. */
export const EngineKwargsShape = {
  gpu_memory_utilization: z.number().gt(0).max(1).optional(),
  max_model_len: z.number().int().min(1).optional(),
  enforce_eager: z.boolean().optional(),
  tensor_parallel_size: z.number().int().min(1).max(64).optional(),
  max_num_seqs: z.number().int().min(1).optional(),
  max_num_batched_tokens: z.number().int().min(1).optional(),
  block_size: z.number().int().refine((n) => [8, 16, 32, 64, 128].includes(n), 'must be one of 8, 16, 32, 64, 128').optional(),
  enable_prefix_caching: z.boolean().optional(),
  dtype: z.enum(['auto', 'float32', 'bfloat16', 'float16']).optional(),
  kv_cache_dtype: z.enum(KV_CACHE_DTYPES).optional(),
  seed: z.number().int().optional(),
  load_format: z.enum(['auto', 'dummy']).optional(),
  /** vLLM's --generation-config: the checkpoint's sampling defaults ("auto") or none ("vllm"). */
  generation_config: z.enum(['auto', 'vllm']).optional(),
  /** Requests in flight for this model across replicas before the proxy answers 429. */
  request_limits: z.number().int().min(1).nullable().optional(),
};
export type EngineKwarg = keyof typeof EngineKwargsShape;
export const ENGINE_KWARGS = Object.keys(EngineKwargsShape) as EngineKwarg[];
/** The engine kwargs a runner takes (request_limits is the proxy's own). */
export type RunnerEngineKwarg = Exclude<EngineKwarg, 'request_limits'>;
export const RUNNER_ENGINE_KWARGS: readonly RunnerEngineKwarg[] = ENGINE_KWARGS.filter(
  (k): k is RunnerEngineKwarg => k !== 'request_limits',
);


export const LaunchRequestSchema = z
  .object({
    model_name: ModelNameSchema,
    model_uid: ModelUidSchema.nullable().optional(),
    model_type: z.enum(MODEL_TYPES).optional(),
    /** builtin (Pagoda's engine, the default), vllm, llama.cpp; checked against the catalog. */
    model_engine: z.string().min(1).nullable().optional(),
    model_format: z.string().min(1).nullable().optional(),
    model_size_in_billions: z.union([z.number().positive(), z.string().regex(/^\d+(_\d+)?$/, "write sizes as 7 or '1_5'")]).nullable().optional(),
    quantization: z.string().min(1).nullable().optional(),
    /** GPUs per replica; 'auto' = tensor_parallel_size (1) on a GPU, or the CPU where the cluster has none; 0 = the CPU. */
    n_gpu: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).nullable().optional(),
    gpu_idx: z.union([z.number().int().min(0), z.array(z.number().int().min(0)).min(1)]).nullable().optional(),
    worker_ip: z.string().min(1).nullable().optional(),
    replica: z.number().int().min(1).max(64).optional(),
    model_path: z.string().min(1).nullable().optional(),
    /** Xinference's launch fields: accepted when they ask for nothing this platform lacks (checked by the launcher). */
    peft_model_config: z.record(z.string(), z.unknown()).nullable().optional(),
    n_worker: z.number().int().min(1).nullable().optional(),
    envs: z.record(z.string(), z.string()).nullable().optional(),
    enable_virtual_env: z.boolean().nullable().optional(),
    virtual_env_packages: z.array(z.string()).nullable().optional(),
    /** Answer only once the model is ready (Xinference's client default), or at once (Pagoda's CLI, the dashboard). */
    wait_ready: z.boolean().optional(),
    ...EngineKwargsShape,
  })
  .strict();
export type LaunchRequest = z.infer<typeof LaunchRequestSchema>;

export const ScaleRequestSchema = z.object({ replica: z.number().int().min(0).max(64) }).strict();
export type ScaleRequest = z.infer<typeof ScaleRequestSchema>;

export const RegistrationRequestSchema = z
  .object({
    model_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'use letters, digits, ".", "_" and "-" only (at most 100)'),
    model_path: z.string().min(1).optional(),
    hf_repo_id: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'write it as owner/name').optional(),
    architecture: z.string().min(1).optional(),
    chat_template: z.string().min(1).optional(),
    context_length: z.number().int().min(1).optional(),
  })
  .strict()
  .refine((r) => r.model_path !== undefined || r.hf_repo_id !== undefined, { message: 'give model_path (a local folder) or hf_repo_id', path: ['model_path'] });
export type RegistrationRequest = z.infer<typeof RegistrationRequestSchema>;

export const ApiKeyRequestSchema = z
  .object({
    name: KeyNameSchema,
    scope: z.enum(['admin', 'inference']),
    /** Inference keys only: the model uids this key may call (all when absent). */
    models: z.array(ModelUidSchema).min(1).optional(),
  })
  .strict()
  .refine((k) => !(k.scope === 'admin' && k.models), { message: 'admin keys cannot be limited to models; drop models or use scope inference', path: ['models'] });
export type ApiKeyRequest = z.infer<typeof ApiKeyRequestSchema>;

export const REPLICA_STATES = ['scheduled', 'downloading', 'loading', 'ready', 'failed', 'lost', 'stopped'] as const;
export type ReplicaState = (typeof REPLICA_STATES)[number];
/** 'stopped': scaled to 0 replicas on purpose; it serves nothing until scaled up again. */
export const INSTANCE_STATES = ['pending', 'launching', 'ready', 'degraded', 'failed', 'stopped'] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

export interface ReplicaView {
  replica_id: string;
  index: number;
  worker: string | null;
  gpu_idx: number[];
  memory_bytes_per_gpu: number;
  status: ReplicaState;
  progress: number;
  restarts: number;
  last_error: string | null;
  address: string | null;
}

export interface ModelView {
  model_uid: string;
  model_name: string;
  model_type: ModelType;
  model_engine: string;
  model_format: string | null;
  model_size_in_billions: number | null;
  quantization: string | null;
  replica: number;
  status: InstanceState;
  last_error: string | null;
  engine_kwargs: Record<string, unknown>;
  replicas: ReplicaView[];
  created_at: string;
}
