// One constrained request's side of structured output: a GrammarMatcher per output that takes the
// tokens the engine sampled and gives the bitmask of tokens allowed next (the engine's TokenConstraint).
import type { TokenConstraint } from '@pagoda/engine';
import type { CompiledGrammar, GrammarMatcher } from '@mlc-ai/web-xgrammar';
import { xgrammar } from './xgrammar-module.ts';

export class GrammarConstraint implements TokenConstraint {
  private readonly matchers = new Map<number, Promise<GrammarMatcher>>();
  private released = false;

  constructor(private readonly grammar: CompiledGrammar) {}

  async nextMask(index: number, accepted: readonly number[]): Promise<Int32Array | null> {
    let pending = this.matchers.get(index);
    if (!pending) {
      pending = xgrammar().GrammarMatcher.createGrammarMatcher(this.grammar);
      this.matchers.set(index, pending);
    }
    const matcher = await pending;
    if (this.released) return null;
    for (const token of accepted) if (!matcher.acceptToken(token)) return null;
    return matcher.getNextTokenBitmask();
  }

  /** Frees the matchers' wasm memory; later calls answer null. */
  release(): void {
    this.released = true;
    for (const m of this.matchers.values()) void m.then((matcher) => matcher.dispose());
    this.matchers.clear();
  }
}
