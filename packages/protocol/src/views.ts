// What the management API answers beyond models (management.ts): registrations, engines, memory
// plans, devices, workers, the cluster summary, API keys, launch progress, benchmark runs and the
// live events. The server produces these shapes; the client SDK, the CLI and the dashboard read them
// from here.
import type { PlanProblem } from './plan-problems.ts';
import { z } from 'zod';
import type { Device } from './cluster.ts';
import { ModelUidSchema, type ModelType } from './management.ts';

/** GET /v1/model_registrations/LLM: one line per launchable model. */
export interface RegistrationSummary {
  model_name: string;
  is_builtin: boolean;
  model_family: string;
  model_ability: string[];
  context_length: number;
  /** Embedding models: the vector's length. */
  dimensions?: number;
  /** Embedding and rerank models: the longest input. */
  max_tokens?: number;
}

/** One format and size of a model family, as GET /v1/model_registrations/LLM/{name} shows it. */
export interface ModelSpecView {
  model_format: string;
  model_size_in_billions: number;
  quantizations: string[];
  model_id: string;
  model_file_name_template?: string;
  model_path?: string;
}

/** GET /v1/model_registrations/LLM/{name}: a catalog entry or a custom registration. */
export interface ModelFamilyView {
  model_name: string;
  model_type: ModelType;
  /** Embedding models: the vector's length. */
  dimensions?: number;
  /** Embedding and rerank models: the longest input. */
  max_tokens?: number;
  model_family: string;
  model_description: string;
  model_lang: string[];
  model_ability: string[];
  context_length: number;
  chat_template: string | null;
  stop: string[];
  stop_token_ids: number[];
  source: 'builtin' | 'custom';
  model_specs: ModelSpecView[];
}

/** PUT / PATCH /v1/model_registrations/LLM/{name}. */
export interface RegistrationUpdated {
  model_name: string;
  updated: true;
  /** Instances launched from it: they keep the old settings until terminated and launched again. */
  launched_as: string[];
  family: ModelFamilyView;
}

/** GET /v1/engines/{model_name}: per engine, the formats, sizes and quantizations it runs. */
export interface EngineEntry {
  model_format: string;
  model_size_in_billions: number;
  quantizations: string[];
}
export type EnginesOf = Record<string, EngineEntry[]>;

/** One shard's memory on a GPU, in bytes. */
export interface GpuMemory {
  /** gpu_memory_utilization × total: what this shard may use, and what placement claims. */
  budget: number;
  weights: number;
  activations: number;
  cuda_graphs: number;
  overhead: number;
  /** The rest of the budget (negative when the rest does not fit). */
  kv_cache: number;
  kv_bytes_per_token: number;
  /** Tokens the KV cache holds, in whole blocks. */
  kv_cache_tokens: number;
}

export interface GpuPlan extends GpuMemory {
  worker: string;
  index: number;
  total: number;
  /** Available before this replica's claim. */
  available: number;
  /** What placement records for this GPU: the budget. */
  claim: number;
  /** Available after the claim. */
  free_after: number;
}

export interface ReplicaPlan {
  replica: number;
  worker: string;
  gpu_indices: number[];
  gpus: GpuPlan[];
  /** How many max_model_len sequences the KV cache holds at once. */
  max_concurrency: number;
}

export type SuggestedSetting = 'max_model_len' | 'gpu_memory_utilization' | 'tensor_parallel_size';

export interface Suggestion {
  setting: SuggestedSetting;
  value: number;
  message: string;
}

/** The engine settings a plan was made for, with the server's defaults filled in. */
export interface PlanSettings {
  dtype: string;
  max_model_len: number;
  max_num_seqs: number;
  max_num_batched_tokens: number;
  gpu_memory_utilization: number;
  tensor_parallel_size: number;
  enforce_eager: boolean;
  block_size: number;
  kv_cache_dtype: string;
}

/** The memory plan of a launch: where each replica goes and what each GPU holds, or why it cannot fit. */
export interface MemoryPlan {
  fits: boolean;
  message: string;
  settings: PlanSettings;
  /** K and V bytes of one token on one GPU (one tensor-parallel shard). */
  kv_bytes_per_token: number;
  replicas: ReplicaPlan[];
  /** Refused: what is wrong, and on the roomiest eligible GPU what the numbers are. */
  problems: string[];
  /** The same problems as values (same order), for clients that word them in their own language. */
  problem_details: PlanProblem[];
  breakdown: GpuPlan | null;
  suggestions: Suggestion[];
}

/** POST /api/plan. */
export interface PlanResponse {
  model_name: string;
  model_engine: string;
  fits: boolean;
  device: 'cpu' | 'gpu' | null;
  message: string;
  /** Refused: why, as values (the GPU plan's problem_details, or the CPU placement's). */
  problem_details: PlanProblem[];
  replicas: Array<{ worker: string; gpu_idx: number[]; bytes_per_device: number }>;
  plan: MemoryPlan | null;
}

/** GET /v1/cluster/devices: a worker's device with the memory Pagoda claimed on it. */
export type ClusterDevice = Device & {
  worker: string;
  worker_status: string;
  address: string;
  memory_claimed: number;
  models: string[];
};

/** GET /v1/workers. */
export interface WorkerView {
  worker: string;
  host: string;
  address: string;
  status: string;
  last_heartbeat: string;
  gpus: number;
  replicas: number;
}

/** GET /v1/cluster/info. */
export interface ClusterInfo {
  server: { version?: string; database: string; redis: string } & Record<string, unknown>;
  workers: Array<{
    worker: string;
    address: string;
    status: string;
    last_heartbeat: string;
    devices: Device[];
  }>;
  models: number;
  replicas: Record<string, number>;
}

/** GET /api/keys (POST adds `key`, shown once). */
export interface ApiKeyView {
  name: string;
  scope: 'admin' | 'inference';
  prefix: string;
  models: string[] | null;
  created_at: string;
}

export interface ReplicaProgress {
  index?: number;
  status?: string;
  progress?: number;
  phase?: string | null;
  last_error?: string | null;
}

/** GET /v1/models/{uid}/logs: each replica's recent runner log lines (oldest first), kept by the server. */
export interface ModelLogs {
  model_uid: string;
  replicas: Array<{
    replica_id: string;
    index: number;
    lines: string[];
    /** Lines reported since the server started, including those no longer kept. */
    total: number;
  }>;
}

/** POST /v1/models/{uid}/retry: the failed replicas placed and sent again. */
export interface RetryResult {
  model_uid: string;
  retried: number;
  status: string;
}

/** GET /v1/models/{uid}/progress: overall 0..1, and per replica when the server tells. */
export interface LaunchProgress {
  progress: number;
  status?: string;
  phase?: string | null;
  last_error?: string | null;
  replicas?: ReplicaProgress[];
}

/** POST /api/bench: a serving benchmark against a launched model. */
export const BenchRequestSchema = z
  .object({
    model_uid: ModelUidSchema,
    num_prompts: z.number().int().min(1).max(5000).default(20),
    input_len: z.number().int().min(1).max(32768).default(32),
    output_len: z.number().int().min(1).max(8192).default(16),
    /** Requests per second with Poisson arrivals; null = all at once. */
    request_rate: z.number().positive().nullable().default(null),
    max_concurrency: z.number().int().min(1).nullable().default(null),
    seed: z.number().int().default(0),
    /** A folder holding the model's tokenizer.json, for models launched from the hub. */
    tokenizer_path: z.string().min(1).optional(),
  })
  .strict();
export type BenchParams = z.output<typeof BenchRequestSchema>;

export interface Distribution {
  mean: number;
  median: number;
  std: number;
  p99: number;
}

/** The figures vLLM's benchmark_serving reports (`pagoda bench serve --save-result` writes them). */
export interface BenchSummary {
  duration_s: number;
  completed: number;
  failed: number;
  total_input_tokens: number;
  total_output_tokens: number;
  request_throughput: number;
  output_throughput: number;
  total_token_throughput: number;
  /** All in milliseconds. */
  ttft_ms: Distribution;
  tpot_ms: Distribution;
  itl_ms: Distribution;
  e2el_ms: Distribution;
}

/** GET /api/bench, POST /api/bench: one benchmark run and, when done, its summary. */
export interface BenchRun {
  id: string;
  model_uid: string;
  params: BenchParams;
  status: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  started_at: string;
  finished_at: string | null;
  summary: BenchSummary | null;
  error: string | null;
}

/** One event of the live feed (GET /api/events, WebSocket), as the server publishes it. */
export type PlatformEvent =
  | {
      type: 'status';
      model_uid: string;
      replica_id: string | null;
      status: string;
      last_error?: string | null;
    }
  | {
      type: 'progress';
      model_uid: string;
      replica_id: string;
      progress: number;
      phase: string | null;
    }
  | { type: 'logs'; model_uid: string; replica_id: string; lines: string[] }
  | { type: 'worker'; worker_id: string; status: string }
  | { type: 'metrics'; data: Record<string, unknown> };

/** What a listener receives: the event with the time it was published (ISO). */
export type PlatformEventMessage = PlatformEvent & { at: string };
