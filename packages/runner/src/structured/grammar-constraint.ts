// One constrained request's side of structured output: a GrammarMatcher per output that takes the
// tokens the engine sampled and gives the bitmask of tokens allowed next (the engine's TokenConstraint).
// In the last `closingWindow` tokens of max_tokens the mask narrows to one token: the longest that
// starts the text the grammar forces next (xgrammar's jump-forward string), else the first of the
// model's closing order the grammar allows; so an output cut short by max_tokens still parses.
import type { TokenConstraint } from '@pagoda/engine';
import type { CompiledGrammar, GrammarMatcher } from '@mlc-ai/web-xgrammar';
import type { ClosingTokens } from './grammar-compiler.ts';
import { xgrammar } from './xgrammar-module.ts';

/** Tokens kept to close an output, at most half of max_tokens. */
export const CLOSING_TOKENS = 64;

export function closingWindow(maxTokens: number): number {
  return Math.min(CLOSING_TOKENS, Math.floor(maxTokens / 2));
}

export function allowed(mask: Int32Array, token: number): boolean {
  return ((mask[token >> 5]! >>> (token & 31)) & 1) === 1;
}

function only(mask: Int32Array, token: number): Int32Array {
  const one = new Int32Array(mask.length);
  one[token >> 5] = 1 << (token & 31);
  return one;
}

/** The first token of `order` that `mask` allows, as a mask of that token alone; else the mask. */
export function narrowToFirst(mask: Int32Array, order: readonly number[]): Int32Array {
  for (const token of order)
    if (token >> 5 < mask.length && allowed(mask, token)) return only(mask, token);
  return mask;
}

/** The longest allowed token whose text starts `forced`, or -1. */
export function longestForcedToken(
  mask: Int32Array,
  forced: string,
  closing: ClosingTokens,
): number {
  for (const token of closing.byFirstChar.get(forced[0]!) ?? [])
    if (
      token >> 5 < mask.length &&
      allowed(mask, token) &&
      forced.startsWith(closing.texts[token]!)
    )
      return token;
  return -1;
}

export class GrammarConstraint implements TokenConstraint {
  private readonly matchers = new Map<number, Promise<GrammarMatcher>>();
  private readonly ready = new Map<number, GrammarMatcher>();
  private readonly positions = new Map<number, number>();
  private released = false;

  constructor(
    private readonly grammar: CompiledGrammar,
    private readonly maxTokens: number,
    private readonly closing: ClosingTokens,
  ) {}

  async nextMask(index: number, accepted: readonly number[]): Promise<Int32Array | null> {
    // After the first mask the matcher is at hand: no extra await between the token and its mask.
    let matcher = this.ready.get(index);
    if (!matcher) {
      let pending = this.matchers.get(index);
      if (!pending) {
        pending = xgrammar().GrammarMatcher.createGrammarMatcher(this.grammar);
        this.matchers.set(index, pending);
      }
      matcher = await pending;
      this.ready.set(index, matcher);
    }
    if (this.released) return null;
    for (const token of accepted) if (!matcher.acceptToken(token)) return null;
    const position = (this.positions.get(index) ?? 0) + accepted.length;
    this.positions.set(index, position);
    const mask = await matcher.getNextTokenBitmask();
    if (this.maxTokens - position > closingWindow(this.maxTokens)) return mask;
    const forced = matcher.findJumpForwardString();
    const token = forced ? longestForcedToken(mask, forced, this.closing) : -1;
    return token >= 0 ? only(mask, token) : narrowToFirst(mask, this.closing.order);
  }

  /** Frees the matchers' wasm memory; later calls answer null. */
  release(): void {
    this.released = true;
    for (const m of this.matchers.values()) void m.then((matcher) => matcher.dispose());
    this.matchers.clear();
    this.ready.clear();
  }
}
