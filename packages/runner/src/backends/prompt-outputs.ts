// One prompt through the engine, as per-output events: new text (stop strings applied), the tokens and
// logprobs behind it, and the finish. Stops the engine request once every output has finished.
import type { GenerateDelta, SamplingParams, TokenLogprob } from '@pagoda/engine';
import type { Tokenizer } from '@pagoda/tokenizer';
import { badRequest } from '../api-error.ts';
import { OutputText } from './output-text.ts';

export interface EngineLike {
  generate(
    promptTokenIds: number[],
    params: SamplingParams,
    options: { signal?: AbortSignal },
  ): AsyncIterable<GenerateDelta>;
}

export interface OutputEvent {
  /** Which output of this prompt (0..n-1). */
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[];
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
}

/** Yields the events of one prompt; adds its token counts to `usage` as they happen. */
export async function* promptOutputs(
  engine: EngineLike,
  tokenizer: Tokenizer,
  run: PromptRun,
  signal: AbortSignal,
  usage: PromptUsage,
): AsyncGenerator<OutputEvent> {
  const n = run.params.n ?? 1;
  const texts = Array.from(
    { length: n },
    () =>
      new OutputText(tokenizer, {
        promptIds: run.promptIds,
        stops: run.stops,
        includeStop: run.includeStop,
        minTokens: run.params.min_tokens ?? 0,
        skipSpecialTokens: run.skipSpecialTokens,
      }),
  );
  const done = new Array<boolean>(n).fill(false);
  let remaining = n;
  let engineRunning = n; // outputs the engine has not finished itself
  usage.prompt_tokens += run.promptIds.length;

  const local = new AbortController();
  const onAbort = () => local.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let deltas: AsyncIterable<GenerateDelta>;
  try {
    deltas = engine.generate(run.promptIds, run.params, { signal: local.signal });
  } catch (err) {
    signal.removeEventListener('abort', onAbort);
    // The engine refuses bad parameters at once (InvalidRequestError): the client's fault, a 400.
    if ((err as Error).name === 'InvalidRequestError') throw badRequest((err as Error).message);
    throw err;
  }
  const iterator = deltas[Symbol.asyncIterator]();
  // An aborted request may get no further delta from the engine: stop waiting for one at once.
  const aborted = new Promise<null>((resolve) => {
    if (local.signal.aborted) resolve(null);
    else local.signal.addEventListener('abort', () => resolve(null), { once: true });
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === null || next.done) break;
      const delta = next.value;
      const i = delta.index;
      if (delta.finish_reason) engineRunning -= 1;
      if (delta.usage.cached_tokens > 0 && usage.cached_tokens === 0)
        usage.cached_tokens = delta.usage.cached_tokens;
      if (done[i]) continue;
      usage.completion_tokens += delta.token_ids.length;
      const text = texts[i]!;
      const step = text.push(delta.token_ids);
      let finish: OutputEvent['finish_reason'] = null;
      let stopReason: OutputEvent['stop_reason'] = null;
      let out = step.delta;
      if (step.stop !== null) {
        finish = 'stop';
        stopReason = step.stop;
      } else if (delta.finish_reason) {
        out += text.finish().delta;
        finish = delta.finish_reason;
        const stopId = delta.stop_token_id;
        stopReason =
          stopId !== undefined && run.params.stop_token_ids?.includes(stopId) ? stopId : null;
      }
      yield {
        index: i,
        text: out,
        tokenIds: delta.token_ids,
        logprobs: delta.logprobs ?? [],
        finish_reason: finish,
        stop_reason: stopReason,
      };
      if (finish) {
        done[i] = true;
        remaining -= 1;
        if (remaining === 0) break;
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Stop strings ended every output before the engine did, or the client left: free the sequences now.
    if (engineRunning > 0) {
      local.abort();
      await iterator.return?.();
    }
  }
}
