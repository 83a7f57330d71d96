// The server's response shapes the dashboard reads (management API, plan, cluster, benchmark runs).
// Shapes @pagoda/protocol declares are imported as types only, so nothing of it is bundled.
import type { Device as WorkerDevice } from '../../../../packages/protocol/src/cluster.ts';

export type { ModelView, ReplicaView } from '../../../../packages/protocol/src/management.ts';

export interface ModelSpec {
  model_format: string;
  model_size_in_billions: number;
  quantizations: string[];
  model_id: string;
  model_path?: string;
}

export interface ModelFamily {
  model_name: string;
  model_family: string;
  model_description: string;
  model_ability: string[];
  context_length: number;
  source: 'builtin' | 'custom';
  model_specs: ModelSpec[];
}

export interface RegistrationSummary {
  model_name: string;
  is_builtin: boolean;
  model_family: string;
  model_ability: string[];
  context_length: number;
}

export interface EngineEntry {
  model_format: string;
  model_size_in_billions: number;
  quantizations: string[];
}
export type EnginesOf = Record<string, EngineEntry[]>;

export interface GpuPlan {
  worker: string;
  index: number;
  total: number;
  available: number;
  claim: number;
  free_after: number;
  budget: number;
  weights: number;
  activations: number;
  cuda_graphs: number;
  overhead: number;
  kv_cache: number;
  kv_cache_tokens: number;
}

export interface PlanResponse {
  model_name: string;
  fits: boolean;
  device: 'cpu' | 'gpu' | null;
  message: string;
  plan: {
    fits: boolean;
    message: string;
    replicas: Array<{
      replica: number;
      worker: string;
      gpu_indices: number[];
      gpus: GpuPlan[];
      max_concurrency: number;
    }>;
    problems: string[];
    breakdown: GpuPlan | null;
    suggestions: Array<{ setting: string; value: number; message: string }>;
  } | null;
}

/** A worker's device as /v1/cluster/devices lists it: with its worker and what Pagoda claimed on it. */
export type Device = WorkerDevice & {
  worker: string;
  worker_status: string;
  address: string;
  memory_claimed: number;
  models: string[];
};

export interface WorkerView {
  worker: string;
  host: string;
  address: string;
  status: string;
  last_heartbeat: string;
  gpus: number;
  replicas: number;
}

export interface ClusterInfo {
  server: { version?: string; database: string; redis: string } & Record<string, unknown>;
  workers: Array<{ worker: string; status: string }>;
  models: number;
  replicas: Record<string, number>;
}

export interface ApiKeyView {
  name: string;
  scope: 'admin' | 'inference';
  prefix: string;
  models: string[] | null;
  created_at: string;
}

// Declared here rather than imported from packages/cli/src/bench/summary.ts: that file's imports reach
// the runner, engine and tokenizer packages, which the dashboard's type check would then compile.
export interface Distribution {
  mean: number;
  median: number;
  std: number;
  p99: number;
}

export interface BenchSummary {
  completed: number;
  failed: number;
  duration_s: number;
  request_throughput: number;
  output_throughput: number;
  total_token_throughput: number;
  ttft_ms: Distribution;
  tpot_ms: Distribution;
  itl_ms: Distribution;
  e2el_ms: Distribution;
}

export interface BenchRun {
  id: string;
  model_uid: string;
  params: {
    num_prompts: number;
    input_len: number;
    output_len: number;
    request_rate: number | null;
    max_concurrency: number | null;
  };
  status: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  started_at: string;
  finished_at: string | null;
  summary: BenchSummary | null;
  error: string | null;
}
