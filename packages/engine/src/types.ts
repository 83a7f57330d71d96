// The TypeScript face of the engine: what packages/runner codes against. Names follow vLLM.

/** Options for Engine.load, named as vLLM's engine arguments. */
export interface EngineOptions {
  /** Checkpoint folder (config.json + safetensors), or a config.json with load_format "dummy". */
  model: string;
  load_format?: 'auto' | 'dummy';
  dtype?: 'auto' | 'float32' | 'bfloat16' | 'float16';
  device?: 'auto' | 'cpu' | 'cuda';
  max_model_len?: number;
  max_num_seqs?: number;
  max_num_batched_tokens?: number;
  block_size?: number;
  enable_prefix_caching?: boolean;
  /** Split long prompts across steps (on by default, as vLLM's V1 engine). */
  enable_chunked_prefill?: boolean;
  gpu_memory_utilization?: number;
  /** CPU backend: bytes of host memory for the KV cache. */
  kv_cache_space_bytes?: number;
  /** Exactly this many KV blocks (tests and tuning). */
  num_gpu_blocks_override?: number;
  enforce_eager?: boolean;
  seed?: number;
  tensor_parallel_size?: number;
  quantization?: string | null;
  /** CPU backend: worker threads (0 = all cores). */
  num_threads?: number;
  pipeline_parallel_size?: number;
  kv_cache_dtype?: string;
}

/** Per-request sampling, as vLLM's SamplingParams (stop strings are matched by the caller). */
export interface SamplingParams {
  n?: number;
  max_tokens?: number;
  min_tokens?: number;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repetition_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number | null;
  /** Number of top logprobs per generated token (0 = only the chosen token's); null = none. */
  logprobs?: number | null;
  /** Logprobs of each prompt token after the first, with this many top alternatives (echo); null = none. */
  prompt_logprobs?: number | null;
  stop_token_ids?: number[];
  ignore_eos?: boolean;
  /** OpenAI's logit_bias with its keys resolved: [token id, bias in -100..100] pairs. */
  logit_bias?: Array<[number, number]>;
  /** Structured output: every sampled token waits for GenerateOptions.constraint's mask. */
  constrained?: boolean;
}

/**
 * Structured output's side of a constrained request: the allowed-token bitmask (xgrammar's
 * layout: bit t of word t >> 5 set when token t may come next; (vocab_size + 31) >> 5 words)
 * for each output's next position. Called first with no tokens (position 0), then with the
 * tokens each engine step produced; a null mask ends the output (the grammar refused a token).
 */
export interface TokenConstraint {
  nextMask(
    index: number,
    accepted: readonly number[],
  ): Int32Array | null | Promise<Int32Array | null>;
  /** Called once when the request has ended (frees what the constraint holds). */
  release?(): void;
}

export type EngineFinishReason = 'stop' | 'length' | 'abort';

export interface TokenLogprob {
  token_id: number;
  logprob: number;
  /** 1 + how many tokens were more likely; set on prompt logprobs. */
  rank?: number;
  top: Array<{ token_id: number; logprob: number }>;
}

/** What one engine step produced for one output sequence of a request. */
export interface GenerateDelta {
  /** Which of the request's n outputs (0-based). */
  index: number;
  token_ids: number[];
  logprobs?: TokenLogprob[];
  /**
   * Output 0 only: logprobs of prompt tokens computed this step, in order from the second prompt
   * token on (token_id is -1: the caller has the prompt). A delta may carry only these.
   */
  prompt_logprobs?: TokenLogprob[];
  /** Set on the last delta of this output. 'stop' covers EOS and stop_token_ids. */
  finish_reason?: EngineFinishReason;
  /** The token id that caused a 'stop' finish, if any. */
  stop_token_id?: number;
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens: number };
}

export interface EngineStats {
  num_running: number;
  num_waiting: number;
  kv_blocks_total: number;
  kv_blocks_used: number;
  kv_blocks_free: number;
  kv_blocks_cached: number;
  kv_blocks_touched: number; // ever used; on the CPU engine, the KV blocks whose memory is committed
  kv_cache_usage: number; // 0..1
  prefix_cache_queries: number; // tokens looked up
  prefix_cache_hits: number; // tokens found
  num_preemptions: number;
  prompt_tokens_total: number;
  generation_tokens_total: number;
  tokens_per_second: number; // generation, recent window
  max_model_len: number;
  block_size: number;
  /** The engine thread waits for work and has handed back the pages of its empty KV blocks. */
  idle: boolean;
  device: string;
  /** Engine steps run so far. */
  num_steps: number;
  /** Where the steps' time went (milliseconds, summed): host work outside the backend's forward, */
  step_host_ms_total: number;
  /** the forward as the host clock saw it, */
  step_forward_ms_total: number;
  /** and the device's busy time over the device_timed_steps the backend timed (a sample of the steps on the GPU;
   * 0 on the CPU), whose host + forward time is device_timed_step_ms_total. */
  step_device_ms_total: number;
  device_timed_steps: number;
  device_timed_step_ms_total: number;
  /** The device's idle time between steps, from pairs of timed steps: the idle before the second of each of
   * device_gap_steps pairs, and those steps' device time (the idle share is gap / (gap + span)). */
  device_gap_ms_total: number;
  device_gap_span_ms_total: number;
  device_gap_steps: number;
  /** Steps launched while the one before was still running (a GPU launches step N + 1 before reading step N's
   * ids unless a sequence of N needs them on the host first); 0 where steps run one at a time. */
  steps_launched_ahead: number;
}

export interface ModelInfo {
  architecture: string;
  vocab_size: number;
  max_model_len: number;
  eos_token_ids: number[];
  bos_token_id: number | null;
  dtype: string;
  device: string;
}
