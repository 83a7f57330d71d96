// vLLM's allowed_token_ids and bad_words as a TokenConstraint: each output's next token is drawn from
// the allowed ids, never completing a bad word; with a grammar as well, both masks must allow it.
import type { TokenConstraint } from '@pagoda/engine';
import type { TextTokenizer } from '@pagoda/tokenizer';
import { badRequest } from '../api-error.ts';

export interface TokenFilterSpec {
  /** Only these ids may be sampled (null: any). */
  allowed: readonly number[] | null;
  /** Token sequences an output must not produce: the last is barred after the others. */
  badWords: ReadonlyArray<readonly number[]>;
}

/**
 * The request's filter, or null when it sets neither field. A bad word is barred as written and, as
 * vLLM does, after a space when that spells it with another first token of the same length.
 */
export function tokenFilterSpec(
  req: { allowed_token_ids?: number[] | null; bad_words?: string[] | null },
  tokenizer: TextTokenizer,
  vocabSize: number,
): TokenFilterSpec | null {
  const allowed = req.allowed_token_ids ?? null;
  const words = req.bad_words ?? [];
  if (!allowed && words.length === 0) return null;
  for (const id of allowed ?? [])
    if (id >= vocabSize)
      throw badRequest(
        `allowed_token_ids: ${id} is not a token id of this model (ids run from 0 to ${vocabSize - 1})`,
        'allowed_token_ids',
      );
  const badWords: number[][] = [];
  for (const word of words) {
    const plain = tokenizer.encode(word.trimStart(), { addSpecialTokens: false });
    if (plain.length > 0) badWords.push(plain);
    const spaced = tokenizer.encode(` ${word.trimStart()}`, { addSpecialTokens: false });
    if (spaced.length > 0 && spaced.length === plain.length && spaced[0] !== plain[0])
      badWords.push(spaced);
  }
  return { allowed, badWords };
}

export class TokenFilter implements TokenConstraint {
  private readonly base: Int32Array;
  private readonly history = new Map<number, number[]>();

  constructor(
    private readonly spec: TokenFilterSpec,
    vocabSize: number,
    private readonly grammar?: TokenConstraint,
  ) {
    this.base = new Int32Array(Math.ceil(vocabSize / 32));
    if (spec.allowed) for (const id of spec.allowed) this.base[id >> 5]! |= 1 << (id & 31);
    else for (let id = 0; id < vocabSize; id++) this.base[id >> 5]! |= 1 << (id & 31);
  }

  nextMask(index: number, accepted: readonly number[]): Int32Array | null | Promise<Int32Array | null> {
    const history = this.history.get(index) ?? [];
    history.push(...accepted);
    this.history.set(index, history);
    const own = this.mask(history);
    if (!this.grammar) return nonEmpty(own);
    const inner = this.grammar.nextMask(index, accepted);
    const both = (g: Int32Array | null) => (g ? nonEmpty(own.map((word, i) => word & (g[i] ?? 0))) : null);
    return inner instanceof Promise ? inner.then(both) : both(inner);
  }

  release(): void {
    this.grammar?.release?.();
  }

  /** The allowed ids less every bad word's last token whose other tokens the output just produced. */
  private mask(history: readonly number[]): Int32Array {
    const out = this.base.slice();
    for (const word of this.spec.badWords) {
      const head = word.length - 1;
      if (head > history.length) continue;
      let follows = true;
      for (let i = 0; i < head && follows; i++) follows = history[history.length - head + i] === word[i];
      const last = word[head]!;
      if (follows) out[last >> 5]! &= ~(1 << (last & 31));
    }
    return out;
  }
}

/** A mask that allows nothing ends the output (null), as a grammar that refuses does. */
function nonEmpty(mask: Int32Array): Int32Array | null {
  return mask.some((word) => word !== 0) ? mask : null;
}
