// Engine logprobs in OpenAI's two shapes: completions ({tokens, token_logprobs, top_logprobs, text_offset})
// and chat ({content: [{token, logprob, bytes, top_logprobs}]}).
import type { TokenLogprob } from '@pagoda/engine';
import type {
  ChatTokenLogprob,
  CompletionLogprobs,
  PromptLogprob,
  PromptLogprobs,
} from '@pagoda/protocol';
import type { TokenNames } from './token-text.ts';

const bytesOf = (text: string) => [...Buffer.from(text, 'utf8')];

export function chatLogprobs(
  items: readonly TokenLogprob[],
  texts: TokenNames,
  topK: number,
): ChatTokenLogprob[] {
  return items.map((item) => {
    const token = texts.get(item.token_id);
    return {
      token,
      logprob: item.logprob,
      bytes: bytesOf(token),
      top_logprobs: item.top.slice(0, topK).map((t: { token_id: number; logprob: number }) => {
        const alt = texts.get(t.token_id);
        return { token: alt, logprob: t.logprob, bytes: bytesOf(alt) };
      }),
    };
  });
}

/** `offset` is where the first of these tokens starts in the choice's text; returns the offset after them. */
export function completionLogprobs(
  items: readonly TokenLogprob[],
  texts: TokenNames,
  topK: number,
  offset: number,
): { logprobs: CompletionLogprobs; next: number } {
  const out: CompletionLogprobs = {
    tokens: [],
    token_logprobs: [],
    top_logprobs: [],
    text_offset: [],
  };
  let at = offset;
  for (const item of items) {
    const token = texts.get(item.token_id);
    out.tokens.push(token);
    out.token_logprobs.push(item.logprob);
    const top: Record<string, number> = {};
    for (const t of item.top.slice(0, topK)) top[texts.get(t.token_id)] = t.logprob;
    if (topK > 0 && !(token in top)) top[token] = item.logprob;
    out.top_logprobs.push(topK > 0 ? top : null);
    out.text_offset.push(at);
    at += token.length;
  }
  return { logprobs: out, next: at };
}

/**
 * Echo with logprobs: the prompt's tokens first (the first one without a logprob, as OpenAI
 * shows it), then the generated ones, offsets running through both.
 */
export function echoedCompletionLogprobs(
  promptIds: readonly number[],
  promptLogprobs: readonly TokenLogprob[],
  generated: readonly TokenLogprob[],
  texts: TokenNames,
  topK: number,
): { logprobs: CompletionLogprobs; next: number } {
  const first: TokenLogprob = { token_id: promptIds[0]!, logprob: 0, top: [] };
  const head = completionLogprobs([first, ...promptLogprobs], texts, topK, 0);
  head.logprobs.token_logprobs[0] = null;
  head.logprobs.top_logprobs[0] = null;
  const tail = completionLogprobs(generated, texts, topK, head.next);
  return {
    logprobs: {
      tokens: [...head.logprobs.tokens, ...tail.logprobs.tokens],
      token_logprobs: [...head.logprobs.token_logprobs, ...tail.logprobs.token_logprobs],
      top_logprobs: [...head.logprobs.top_logprobs, ...tail.logprobs.top_logprobs],
      text_offset: [...head.logprobs.text_offset, ...tail.logprobs.text_offset],
    },
    next: tail.next,
  };
}

/**
 * vLLM's prompt_logprobs: null for the first prompt token, then for each later one its own logprob
 * and rank, and the `topK` most likely tokens at that position (ranks 1..topK), keyed by token id.
 */
export function promptLogprobsOf(
  promptIds: readonly number[],
  scored: readonly TokenLogprob[],
  texts: TokenNames,
  topK: number,
): PromptLogprobs {
  const out: PromptLogprobs = [null];
  for (const [i, item] of scored.entries()) {
    const id = promptIds[i + 1]!;
    const entry: Record<string, PromptLogprob> = {
      [id]: { logprob: item.logprob, rank: item.rank ?? null, decoded_token: texts.get(id) },
    };
    for (const [k, t] of item.top.slice(0, topK).entries())
      entry[t.token_id] ??= { logprob: t.logprob, rank: k + 1, decoded_token: texts.get(t.token_id) };
    out.push(entry);
  }
  return out;
}
