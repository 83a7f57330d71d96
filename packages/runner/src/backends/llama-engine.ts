// llama.cpp (node-llama-cpp, in this process) behind the engine interface the OpenAI layer drives:
// prompt token ids in, per-token deltas out. One llama.cpp context with max_num_seqs sequences;
// requests take a free sequence (FIFO when all are busy), reuse the prefix it already holds, and
// sample with the request's parameters. llama.cpp batches the sequences that decode together.
import {
  EngineClosedError,
  InvalidRequestError,
  type GenerateDelta,
  type SamplingParams,
  type TokenConstraint,
  type TokenLogprob,
} from '@pagoda/engine';
import type {
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaModel,
  SequenceEvaluateOptions,
  Token,
} from 'node-llama-cpp';
import type { BackendStats } from '../backend.ts';
import type { EngineHandle } from './builtin.ts';
import { backendStatsOf } from './engine-stats.ts';

export interface LlamaEngineOptions {
  modelPath: string;
  /** Layers on the GPU: 0 for the CPU; 'max' offloads all when llama.cpp has a GPU build and device. */
  gpuLayers: number | 'max';
  maxModelLen: number;
  maxNumSeqs: number;
  batchSize?: number;
  threads: number;
  /** F32 keeps logits within 1e-5 of transformers on the CPU; F16 is llama.cpp's default. */
  kvCacheType: 'F32' | 'F16';
  seed?: number;
  /** Tokens in the GGUF's vocabulary (tokenizer.ggml.tokens): the ids a bias or mask may name. */
  vocabSize: number;
}

/** The loaded model and context; `model` also serves the tokenizer. */
export class LlamaEngine implements EngineHandle {
  private readonly all: LlamaContextSequence[] = [];
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiting: Array<(seq: LlamaContextSequence) => void> = [];
  private running = 0;
  private closed = false;
  private promptTokens = 0;
  private generated = 0;
  private prefixQueries = 0;
  private prefixHits = 0;

  private constructor(
    private readonly llama: Llama,
    readonly model: LlamaModel,
    private readonly context: LlamaContext,
    readonly maxModelLen: number,
    private readonly defaultSeed: number | undefined,
    private readonly TokenBias: typeof import('node-llama-cpp').TokenBias,
    private readonly vocabSize: number,
  ) {
    for (let i = 0; i < context.totalSequences; i++) this.all.push(context.getSequence());
    this.free.push(...this.all);
  }

  static async load(o: LlamaEngineOptions): Promise<LlamaEngine> {
    const { getLlama, LlamaLogLevel, TokenBias } = await import('node-llama-cpp');
    // build 'never' + skipDownload: only the prebuilt binary installed with the package is used.
    const llama = await getLlama({
      gpu: o.gpuLayers === 0 ? false : 'auto',
      build: 'never',
      skipDownload: true,
      logLevel: LlamaLogLevel.error,
      maxThreads: o.threads,
    });
    const model = await llama.loadModel({ modelPath: o.modelPath, gpuLayers: o.gpuLayers });
    try {
      const context = await model.createContext({
        contextSize: o.maxModelLen,
        sequences: o.maxNumSeqs,
        batchSize: o.batchSize,
        threads: o.threads,
        flashAttention: false,
        experimentalKvCacheKeyType: o.kvCacheType,
        experimentalKvCacheValueType: o.kvCacheType,
        failedCreationRemedy: false,
      });
      return new LlamaEngine(llama, model, context, o.maxModelLen, o.seed, TokenBias, o.vocabSize);
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  generate(
    promptTokenIds: number[],
    params: SamplingParams,
    options: { signal?: AbortSignal; constraint?: TokenConstraint },
  ): AsyncIterable<GenerateDelta> {
    if (this.closed) throw new EngineClosedError('the llama.cpp engine is closed');
    if (promptTokenIds.length === 0) throw new InvalidRequestError('the prompt is empty');
    if (params.constrained && !options.constraint)
      throw new InvalidRequestError('a constrained request needs options.constraint');
    for (const [token] of params.logit_bias ?? [])
      if (!(token >= 0 && token < this.vocabSize))
        throw new InvalidRequestError(`logit_bias: token ${token} is not in the vocabulary`);
    return this.run(promptTokenIds, params, options.signal, params.constrained ? options.constraint : undefined);
  }

  private async *run(
    prompt: number[],
    params: SamplingParams,
    signal: AbortSignal | undefined,
    constraint: TokenConstraint | undefined,
  ): AsyncGenerator<GenerateDelta> {
    const n = params.n ?? 1;
    try {
      // n outputs one after another on one sequence: each reuses the prompt already in its cache.
      for (let index = 0; index < n; index++) {
        const seq = await this.acquire(signal);
        if (!seq) return;
        this.running += 1;
        let last: GenerateDelta | undefined;
        try {
          last = yield* this.runOne(seq, index, prompt, params, signal, constraint);
        } finally {
          this.running -= 1;
          this.release(seq);
        }
        // The finishing delta goes out only once the sequence is free: a consumer stops pulling after it.
        if (last) yield last;
      }
    } finally {
      constraint?.release?.();
    }
  }

  private async *runOne(
    seq: LlamaContextSequence,
    index: number,
    prompt: number[],
    params: SamplingParams,
    signal: AbortSignal | undefined,
    constraint: TokenConstraint | undefined,
  ): AsyncGenerator<GenerateDelta, GenerateDelta | undefined> {
    // Keep the cached prefix, but always evaluate at least the last prompt token (its logits are needed).
    // Scoring the prompt (output 0 only, as the builtin engine) needs the logits of every position.
    const scoreTop = index === 0 ? (params.prompt_logprobs ?? -1) : -1;
    const cached =
      scoreTop >= 0
        ? 0
        : Math.min(seq.compareContextTokens(prompt as Token[]).firstDifferentIndex, prompt.length - 1);
    if (cached < seq.nextTokenIndex)
      await seq.eraseContextTokenRanges([{ start: cached, end: seq.nextTokenIndex }]);
    this.prefixQueries += prompt.length;
    this.prefixHits += cached;
    this.promptTokens += prompt.length;
    const usage = { prompt_tokens: prompt.length, completion_tokens: 0, cached_tokens: cached };
    let evaluated = cached;
    if (scoreTop >= 0) {
      const scored = await scorePrompt(seq, prompt, scoreTop, signal);
      if (!scored) return undefined;
      evaluated = prompt.length - 1;
      yield { index, token_ids: [], prompt_logprobs: scored, usage: { ...usage } };
    }
    const maxTokens = params.max_tokens ?? this.maxModelLen - prompt.length;
    const minTokens = params.min_tokens ?? 0;
    const stopIds = new Set(params.stop_token_ids ?? []);
    const history: Token[] = [...(prompt as Token[])];
    const wantLogprobs = params.logprobs !== null && params.logprobs !== undefined;
    // Structured output: the mask for the next token, fetched while llama.cpp waits between tokens.
    let mask = constraint ? await constraint.nextMask(index, []) : null;
    const refused = (): GenerateDelta => ({ index, token_ids: [], finish_reason: 'abort', usage: { ...usage } });
    if (constraint && !mask) return refused();
    const evaluation = seq.evaluateWithMetadata(
      prompt.slice(evaluated) as Token[],
      { probabilities: wantLogprobs },
      this.sampling(params, history, () => usage.completion_tokens < minTokens, constraint ? () => mask : null),
    );
    try {
      for await (const out of evaluation) {
        if (signal?.aborted) return undefined;
        const token = out.token as number;
        history.push(out.token);
        usage.completion_tokens += 1;
        this.generated += 1;
        const delta: GenerateDelta = { index, token_ids: [token], usage: { ...usage } };
        if (wantLogprobs)
          delta.logprobs = [
            toLogprob(
              token,
              untempered(
                (out as { probabilities?: Map<Token, number> }).probabilities ?? new Map(),
                params.temperature ?? 1,
              ),
              params.logprobs!,
            ),
          ];
        const eog = this.model.isEogToken(out.token) && !params.ignore_eos;
        if (stopIds.has(token) || (eog && usage.completion_tokens > minTokens)) {
          delta.finish_reason = 'stop';
          delta.stop_token_id = token;
        } else if (usage.completion_tokens >= maxTokens) delta.finish_reason = 'length';
        if (delta.finish_reason) return delta;
        if (constraint) {
          mask = await constraint.nextMask(index, [token]);
          if (!mask) return { ...refused(), token_ids: [token] };
        }
        yield delta;
      }
      if (signal?.aborted) return undefined;
      // llama.cpp ended the evaluation itself (the context is full).
      return { index, token_ids: [], finish_reason: 'length', usage: { ...usage } };
    } finally {
      await evaluation.return(undefined);
    }
  }

  /** The request's sampling as llama.cpp options; vLLM's "off" values map to llama.cpp's. */
  private sampling(
    params: SamplingParams,
    history: Token[],
    holdEog: () => boolean,
    currentMask: (() => Int32Array | null) | null,
  ): SequenceEvaluateOptions {
    // A bias is built for each sampled token only where the request has something to bias.
    const biased = (params.logit_bias?.length ?? 0) > 0 || ((params.min_tokens ?? 0) > 0 && !params.ignore_eos) || currentMask !== null;
    const penalized =
      (params.repetition_penalty ?? 1) !== 1 ||
      (params.presence_penalty ?? 0) !== 0 ||
      (params.frequency_penalty ?? 0) !== 0;
    const eogTokens = [this.model.tokens.eos, this.model.tokens.eot].filter(
      (t): t is Token => t !== null,
    );
    return {
      temperature: params.temperature ?? 1,
      topK: params.top_k !== undefined && params.top_k > 0 ? params.top_k : 0,
      topP: params.top_p ?? 1,
      minP: params.min_p ?? 0,
      seed: params.seed ?? this.defaultSeed ?? Math.floor(Math.random() * 2 ** 31),
      yieldEogToken: true,
      repeatPenalty: penalized
        ? {
            punishTokens: () => history,
            maxPunishTokens: this.maxModelLen,
            penalty: params.repetition_penalty ?? 1,
            presencePenalty: params.presence_penalty ?? 0,
            frequencyPenalty: params.frequency_penalty ?? 0,
          }
        : undefined,
      tokenBias: !biased
        ? undefined
        : () => {
            const bias = new this.TokenBias(this.model.tokenizer);
            // The map llama.cpp's logit-bias sampler reads (token -> added logit). Written directly:
            // TokenBias.set skips end-of-generation tokens, which min_tokens and grammars must bar.
            const added = (bias as unknown as { _biases: Map<number, number> })._biases;
            for (const [token, value] of params.logit_bias ?? []) added.set(token, value);
            // min_tokens: end-of-generation tokens are barred until that many tokens are out.
            if (!params.ignore_eos && holdEog()) for (const t of eogTokens) added.set(t, -Infinity);
            const mask = currentMask?.();
            if (mask) barOutside(mask, this.vocabSize, added);
            return bias;
          },
    };
  }

  private acquire(signal: AbortSignal | undefined): Promise<LlamaContextSequence | null> {
    if (this.closed) return Promise.reject(new EngineClosedError('the llama.cpp engine is closed'));
    const seq = this.free.shift();
    if (seq) return Promise.resolve(seq);
    return new Promise((resolve) => {
      const waiter = (s: LlamaContextSequence) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve(null);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private release(seq: LlamaContextSequence): void {
    const next = this.waiting.shift();
    if (next) next(seq);
    else this.free.push(seq);
  }

  stats() {
    const used = this.all.reduce((a, s) => a + s.nextTokenIndex, 0);
    return {
      num_running: this.running,
      num_waiting: this.waiting.length,
      kv_blocks_total: 0,
      kv_blocks_used: 0,
      kv_blocks_free: 0,
      kv_blocks_cached: 0,
      kv_blocks_touched: 0,
      kv_cache_usage: Math.min(1, used / (this.maxModelLen * this.context.totalSequences)),
      prefix_cache_queries: this.prefixQueries,
      prefix_cache_hits: this.prefixHits,
      num_preemptions: 0,
      prompt_tokens_total: this.promptTokens,
      generation_tokens_total: this.generated,
      tokens_per_second: 0,
      max_model_len: this.maxModelLen,
      block_size: 0,
      idle: this.running === 0 && this.waiting.length === 0,
      device: this.llama.gpu === false ? 'cpu' : this.llama.gpu,
      num_steps: 0,
      step_host_ms_total: 0,
      step_forward_ms_total: 0,
      step_device_ms_total: 0,
      device_timed_steps: 0,
      device_timed_step_ms_total: 0,
      device_gap_ms_total: 0,
      device_gap_span_ms_total: 0,
      device_gap_steps: 0,
      steps_launched_ahead: 0,
    };
  }

  /** What /metrics can say of llama.cpp: queue depths, cache use, prefix reuse; no step timings. */
  backendStats(): BackendStats {
    // stats() fills the step and preemption counters with zeros it does not measure: unknown, not zero.
    // (No step is device-timed, so the device figures come out unknown already.)
    return {
      ...backendStatsOf(this.stats()),
      num_preemptions: null,
      engine_steps: null,
      engine_step_seconds: null,
      engine_steps_launched_ahead: null,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.context.dispose();
    await this.model.dispose();
  }
}

/** Bars (-inf) every token of the vocabulary that `mask` (xgrammar's bitmask layout) does not allow. */
function barOutside(mask: Int32Array, vocab: number, added: Map<number, number>): void {
  for (let word = 0; word < mask.length; word++) {
    const bits = mask[word]!;
    if (bits === -1) continue;
    for (let bit = 0; bit < 32; bit++) {
      const token = word * 32 + bit;
      if (token >= vocab) return;
      if (((bits >>> bit) & 1) === 0) added.set(token, -Infinity);
    }
  }
  for (let token = mask.length * 32; token < vocab; token++) added.set(token, -Infinity);
}

/** Positions scored per llama.cpp call: each holds a whole-vocabulary probability map until it returns. */
const SCORE_CHUNK = 32;

/**
 * Evaluates all but the last prompt token, taking at each position the probabilities of the next:
 * the prompt token's logprob and rank, and the top `k`. Null when the client left meanwhile.
 */
async function scorePrompt(
  seq: LlamaContextSequence,
  prompt: number[],
  k: number,
  signal: AbortSignal | undefined,
): Promise<TokenLogprob[] | null> {
  const out: TokenLogprob[] = [];
  for (let start = 0; start < prompt.length - 1; start += SCORE_CHUNK) {
    if (signal?.aborted) return null;
    const tokens = prompt.slice(start, Math.min(start + SCORE_CHUNK, prompt.length - 1));
    const results = await seq.controlledEvaluate(
      tokens.map((t) => [t as Token, { generateNext: { probabilities: true } }]),
    );
    for (const [i, result] of results.entries()) {
      const next = prompt[start + i + 1]!;
      const probs = result?.next.probabilities ?? new Map<Token, number>();
      const lp = toLogprob(next, probs, k);
      // 1 + the tokens more likely than the prompt's (the map runs most likely first)
      const p = probs.get(next as Token) ?? 0;
      let rank = 1;
      for (const q of probs.values()) {
        if (q <= p) break;
        rank += 1;
      }
      out.push({ ...lp, rank });
    }
  }
  return out;
}

/**
 * llama.cpp gives the probabilities it sampled from, after temperature; logprobs are those of the
 * model itself (as vLLM and the builtin engine answer them): p ∝ p_T^T, renormalized. A top-k / top-p
 * / min-p cut has already dropped the tail, so those logprobs are of what the cut kept.
 */
export function untempered(probs: Map<Token, number>, temperature: number): Map<Token, number> {
  if (temperature <= 0 || temperature === 1 || probs.size === 0) return probs;
  let max = -Infinity;
  const logs: Array<[Token, number]> = [];
  for (const [t, p] of probs) {
    const l = temperature * Math.log(p);
    logs.push([t, l]);
    if (l > max) max = l;
  }
  let sum = 0;
  for (const [, l] of logs) sum += Math.exp(l - max);
  const logZ = max + Math.log(sum);
  return new Map(logs.map(([t, l]) => [t, Math.exp(l - logZ)]));
}

/** OpenAI-style logprobs of the chosen token and the top `k`, from llama.cpp's sorted probabilities. */
function toLogprob(token: number, probs: Map<Token, number>, k: number): TokenLogprob {
  const top: Array<{ token_id: number; logprob: number }> = [];
  for (const [t, p] of probs) {
    if (top.length >= k) break;
    top.push({ token_id: t as number, logprob: Math.log(p) });
  }
  return { token_id: token, logprob: Math.log(probs.get(token as Token) ?? 0), top };
}
