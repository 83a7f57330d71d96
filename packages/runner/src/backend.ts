// The contract between the runner's HTTP layer and whatever produces tokens (builtin engine, remote
// OpenAI server, a spawned vLLM or llama-server). Generation is always a stream of OpenAI chunks; the
// HTTP layer forwards them as SSE or folds them into one response.
import type {
  ChatCompletionChunk,
  ChatCompletionRequest,
  CompletionChunk,
  CompletionRequest,
  DetokenizeRequest,
  DetokenizeResponse,
  TokenizeRequest,
  TokenizeResponse,
} from '@pagoda/protocol';

export type BackendState = 'loading' | 'ready' | 'failed' | 'stopped';

export interface GenerateContext {
  /** Aborted when the client goes away; the backend must stop the request and free its resources. */
  signal: AbortSignal;
  requestId: string;
  /** The model name to report in responses (the served name the client used). */
  model: string;
}

/** Engine-level figures for /metrics; counters are totals since start. Null fields are not known. */
export interface BackendStats {
  num_running: number | null;
  num_waiting: number | null;
  kv_cache_usage: number | null;
  prefix_cache_queries: number | null;
  prefix_cache_hits: number | null;
  num_preemptions: number | null;
  /** Engine steps, their wall time (seconds) and, where the device times them (a sample of the steps), its busy
   * time and the timed steps' wall time, and its idle time between pairs of timed steps beside that idle time plus
   * the device time after it (their ratio: the idle share between steps). */
  engine_steps: number | null;
  engine_step_seconds: number | null;
  engine_device_busy_seconds: number | null;
  engine_device_timed_step_seconds: number | null;
  engine_device_idle_between_steps_seconds: number | null;
  engine_device_paired_seconds: number | null;
  /** Engine steps launched while the step before was still running (over engine_steps: how often the host's
   * preparation of a step overlapped the device's work). */
  engine_steps_launched_ahead: number | null;
}

export interface BackendInfo {
  /** Where the weights come from: a folder, a GGUF file or a URL. */
  root: string;
  max_model_len: number | null;
}

/** Token ids fed for one input, and whether they were cut to fit. */
export interface PoolingTokens {
  ids: number[];
  typeIds: number[];
}

/**
 * What embedding and rerank backends add: inputs become token ids (refused or cut when too long),
 * then one forward over all of them. Generative backends have none of it.
 */
export interface PoolingService {
  readonly task: 'embed' | 'score';
  /** The longest input, special tokens included. */
  readonly maxInputTokens: number;
  /** The length of an embedding. */
  readonly dimensions: number;
  /** Shorter lengths the model was trained to be cut to (Matryoshka), or none. */
  readonly matryoshkaDimensions: readonly number[] | 'any' | null;
  /** Whether embeddings are L2-normalized (then a cut embedding is normalized again). */
  readonly normalized: boolean;
  /** One text, or a (query, document) pair, as the model takes it; `limit` cuts it, null refuses an over-long one. */
  encodeInput(text: string, pair: string | null, limit: number | null): PoolingTokens;
  embed(inputs: PoolingTokens[]): Promise<Float32Array[]>;
  /** The cross-encoder's logit per pair. */
  score(inputs: PoolingTokens[]): Promise<number[]>;
}

export interface Backend {
  readonly kind: 'builtin' | 'remote' | 'vllm' | 'llamacpp';
  /** Loads the model (or starts and waits for the child server). Rejects with a message that says what to change. */
  load(): Promise<void>;
  state(): BackendState;
  /** Why the backend is not ready (load failure or crash), if it is not. */
  failure(): string | null;
  info(): BackendInfo;
  /**
   * Generates; each chunk as it would be streamed. The last chunk carries usage with no choices.
   * Bad requests throw ApiError before the first chunk is yielded.
   */
  chat(req: ChatCompletionRequest, ctx: GenerateContext): AsyncIterable<ChatCompletionChunk>;
  completions(req: CompletionRequest, ctx: GenerateContext): AsyncIterable<CompletionChunk>;
  tokenize(req: TokenizeRequest): Promise<TokenizeResponse>;
  detokenize(req: DetokenizeRequest): Promise<DetokenizeResponse>;
  stats(): Promise<BackendStats | null>;
  shutdown(): Promise<void>;
  /** Present when the model is an embedding or rerank model (and then chat / completions refuse). */
  readonly pooling?: PoolingService;
}
