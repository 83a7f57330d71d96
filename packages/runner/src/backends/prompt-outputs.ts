// The prompts of one request through the engine, as per-output events: new text (stop strings applied),
// the tokens and logprobs behind it, and the finish. Ends engine requests whose outputs have all stopped,
// and stops waiting at once when the client leaves. Plain promises, no generator layers: this runs once
// per token of every stream.
import type { GenerateDelta, SamplingParams, TokenConstraint, TokenLogprob } from '@pagoda/engine';
import type { TextTokenizer } from '@pagoda/tokenizer';
import { ApiError, badRequest } from '../api-error.ts';
import { OutputText } from './output-text.ts';

export interface EngineLike {
  generate(
    promptTokenIds: number[],
    params: SamplingParams,
    options: { signal?: AbortSignal; constraint?: TokenConstraint },
  ): AsyncIterable<GenerateDelta>;
}

export interface OutputEvent {
  /** Which output of this prompt (0..n-1). */
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[];
  /** Echo with logprobs: on each output's first event, the prompt's logprobs (from its second token). */
  promptLogprobs?: TokenLogprob[];
  finish_reason: 'stop' | 'length' | 'abort' | null;
  /** The stop string or stop token id that ended it; null for EOS or length. */
  stop_reason: string | number | null;
}

export interface PromptUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
}

export interface PromptRun {
  promptIds: number[];
  params: SamplingParams;
  stops: string[];
  includeStop: boolean;
  skipSpecialTokens: boolean;
  /** Structured output: the grammar each token of this prompt's outputs must follow. */
  constraint?: TokenConstraint;
}

const FATAL_ENGINE_ERRORS = new Set(['EngineClosedError', 'EngineStepError']);

/**
 * An engine error as the client should see it: a refused request (InvalidRequestError) is the
 * client's fault, a 400; a failed or closed engine is a 503, and the runner is no longer ready.
 */
export function engineError(err: unknown): Error {
  const name = (err as Error)?.name;
  if (name === 'InvalidRequestError') return badRequest((err as Error).message);
  if (FATAL_ENGINE_ERRORS.has(name))
    return new ApiError(503, `the engine failed: ${(err as Error).message}`);
  return err as Error;
}

export function isFatalEngineError(err: unknown): boolean {
  return FATAL_ENGINE_ERRORS.has((err as Error)?.name);
}

/** One output's text and stop state: turns engine deltas into OutputEvents. */
class OutputState {
  done = false;
  constructor(readonly text: OutputText) {}
}

/** The engine request of one prompt and the state of its n outputs. */
class PromptRequest {
  readonly outputs: OutputState[];
  /** Outputs the engine has not finished itself (an early stop string leaves them running). */
  engineOpen: number;
  remaining: number;
  /** Prompt logprobs as the engine computed them (params.prompt_logprobs). */
  private readonly promptLogprobs: TokenLogprob[] = [];
  private readonly promptSent = new Set<number>();
  private readonly iterator: AsyncIterator<GenerateDelta>;

  constructor(
    engine: EngineLike,
    tokenizer: TextTokenizer,
    readonly run: PromptRun,
    readonly offset: number,
    signal: AbortSignal,
  ) {
    const n = run.params.n ?? 1;
    this.outputs = Array.from(
      { length: n },
      () =>
        new OutputState(
          new OutputText(tokenizer, {
            promptIds: run.promptIds,
            stops: run.stops,
            includeStop: run.includeStop,
            minTokens: run.params.min_tokens ?? 0,
            skipSpecialTokens: run.skipSpecialTokens,
          }),
        ),
    );
    this.engineOpen = n;
    this.remaining = n;
    try {
      const deltas = engine.generate(run.promptIds, run.params, {
        signal,
        ...(run.constraint ? { constraint: run.constraint } : {}),
      });
      this.iterator = deltas[Symbol.asyncIterator]();
    } catch (err) {
      throw engineError(err);
    }
  }

  next(): Promise<IteratorResult<GenerateDelta>> {
    return this.iterator.next();
  }

  /** Ends the engine request early (break / return on the engine stream aborts it). */
  async stop(): Promise<void> {
    if (this.engineOpen > 0) {
      this.engineOpen = 0;
      await this.iterator.return?.();
    }
  }

  /** The event for one delta, or null when its output already stopped on a stop string. */
  accept(delta: GenerateDelta, usage: PromptUsage): OutputEvent | null {
    if (delta.prompt_logprobs) {
      const ids = this.run.promptIds;
      for (const lp of delta.prompt_logprobs)
        this.promptLogprobs.push({ ...lp, token_id: ids[this.promptLogprobs.length + 1]! });
      if (delta.token_ids.length === 0 && !delta.finish_reason) return null;
    }
    if (delta.finish_reason) this.engineOpen -= 1;
    if (delta.usage.cached_tokens > 0 && usage.cached_tokens === 0)
      usage.cached_tokens = delta.usage.cached_tokens;
    const out = this.outputs[delta.index]!;
    if (out.done) return null;
    usage.completion_tokens += delta.token_ids.length;
    const step = out.text.push(delta.token_ids);
    let finish: OutputEvent['finish_reason'] = null;
    let stopReason: OutputEvent['stop_reason'] = null;
    let text = step.delta;
    if (step.stop !== null) {
      finish = 'stop';
      stopReason = step.stop;
    } else if (delta.finish_reason) {
      text += out.text.finish().delta;
      finish = delta.finish_reason;
      const stopId = delta.stop_token_id;
      stopReason =
        stopId !== undefined && this.run.params.stop_token_ids?.includes(stopId) ? stopId : null;
    }
    if (finish) {
      out.done = true;
      this.remaining -= 1;
    }
    const event: OutputEvent = {
      index: this.offset + delta.index,
      text,
      tokenIds: delta.token_ids,
      logprobs: delta.logprobs ?? [],
      finish_reason: finish,
      stop_reason: stopReason,
    };
    if (this.run.params.prompt_logprobs != null && !this.promptSent.has(delta.index)) {
      this.promptSent.add(delta.index);
      event.promptLogprobs = this.promptLogprobs;
    }
    return event;
  }
}

/**
 * Every prompt of one request, started at construction (bad parameters throw then, before any
 * chunk is sent). `next()` gives the next event of any prompt, or null when all have finished or
 * the client has left; `close()` frees whatever still runs in the engine.
 */
export class PromptSet {
  private readonly requests: PromptRequest[];
  private readonly local = new AbortController();
  private readonly pending = new Map<
    number,
    Promise<{ at: number; r: IteratorResult<GenerateDelta> }>
  >();
  private wake: ((v: null) => void) | null = null;
  private readonly onAbort = () => {
    this.local.abort();
    this.wake?.(null);
  };

  constructor(
    engine: EngineLike,
    tokenizer: TextTokenizer,
    runs: PromptRun[],
    private readonly signal: AbortSignal,
    readonly usage: PromptUsage,
    private readonly onFatal: (err: Error) => void = () => {},
  ) {
    let offset = 0;
    this.requests = runs.map((run) => {
      const req = this.guard(
        () => new PromptRequest(engine, tokenizer, run, offset, this.local.signal),
      );
      offset += run.params.n ?? 1;
      usage.prompt_tokens += run.promptIds.length;
      return req;
    });
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  async next(): Promise<OutputEvent | null> {
    for (;;) {
      if (this.signal.aborted) return null;
      const live =
        this.requests.length === 1 ? this.requests : this.requests.filter((r) => r.remaining > 0);
      if (live.length === 1 && live[0]!.remaining === 0) return null;
      if (live.length === 0) return null;
      const got = await this.pull(live).catch((err: unknown) =>
        this.guard(() => {
          throw err;
        }),
      );
      if (got === null) return null;
      const req = this.requests[got.at]!;
      if (got.r.done) {
        req.remaining = 0; // the engine ended it without a finish for every output
        continue;
      }
      const event = req.accept(got.r.value, this.usage);
      if (req.remaining === 0) await req.stop();
      if (event) return event;
    }
  }

  /** The next delta of any live request; null once the client has left. */
  private pull(
    live: PromptRequest[],
  ): Promise<{ at: number; r: IteratorResult<GenerateDelta> } | null> {
    if (this.requests.length === 1) {
      // the common case, one prompt: one promise per token, settled by the engine or by an abort
      return new Promise((resolve, reject) => {
        this.wake = resolve;
        live[0]!.next().then((r) => resolve({ at: 0, r }), reject);
      });
    }
    const abort = new Promise<null>((resolve) => (this.wake = resolve));
    for (const req of live) {
      const at = this.requests.indexOf(req);
      if (!this.pending.has(at))
        this.pending.set(
          at,
          req.next().then((r) => ({ at, r })),
        );
    }
    return Promise.race([...this.pending.values(), abort]).then((got) => {
      if (got) this.pending.delete(got.at);
      return got;
    });
  }

  /** Runs `f`; an engine error it throws is reported when fatal and turned into an ApiError. */
  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (isFatalEngineError(err)) this.onFatal(err as Error);
      throw engineError(err);
    }
  }

  async close(): Promise<void> {
    this.signal.removeEventListener('abort', this.onAbort);
    await Promise.all(this.requests.map((r) => r.stop()));
  }
}
