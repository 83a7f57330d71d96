// How a constrained output closes in its last tokens, on real vocabularies: token texts decoded for
// byte-fallback (stories260k) and byte-level (GPT-2 style) tokenizers, the closing order, and the
// longest allowed token that starts the grammar's forced text.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  closingOrder,
  decodedVocab,
  tokensByFirstChar,
  vocabStrings,
  vocabType,
} from '../src/structured/grammar-compiler.ts';
import { longestForcedToken, narrowToFirst } from '../src/structured/grammar-constraint.ts';
import { REPO_ROOT } from './helpers/serve-process.ts';

function vocabOf(model: string) {
  const tj = JSON.parse(
    readFileSync(`${REPO_ROOT}../shared/models/${model}/tokenizer.json`, 'utf8'),
  );
  const { type } = vocabType(tj);
  const vocab = vocabStrings(tj, 512);
  return { type, vocab, texts: decodedVocab(vocab, type) };
}

const maskOf = (allowed: number[], vocab = 512) => {
  const m = new Int32Array(Math.ceil(vocab / 32));
  for (const t of allowed) m[t >> 5]! |= 1 << (t & 31);
  return m;
};

describe('closing tokens', () => {
  it('reads byte-fallback and byte-level vocabularies as text', () => {
    const stories = vocabOf('stories260k');
    expect(stories.type).toBe('byte_fallback');
    expect(stories.texts[stories.vocab.indexOf('<0x22>')]).toBe('"');
    const spaced = stories.vocab.findIndex((t) => t.startsWith('\u2581') && t.length > 2);
    expect(stories.texts[spaced]).toBe(' ' + stories.vocab[spaced]!.slice(1));
    // byte-level (GPT-2 / Llama 3 / Qwen2.5 vocabularies): Ġ is a space, Ċ a newline
    expect(decodedVocab(['\u0120the', '\u010a', '"', '{"'], 'byte_level')).toEqual([
      ' the',
      '\n',
      '"',
      '{"',
    ]);
  });

  it('orders stop tokens, then " } ] , then punctuation, digits, letters', () => {
    const { vocab, type, texts } = vocabOf('stories260k');
    const order = closingOrder(vocab, type, [2]);
    expect(order[0]).toBe(2);
    expect(order.slice(1, 5).map((t) => texts[t])).toEqual(['"', '}', ']', ',']);
    const rank = (t: number) => (/[0-9]/.test(texts[t]!) ? 1 : /[A-Za-z]/.test(texts[t]!) ? 2 : 0);
    const ranks = order.slice(5).map(rank);
    expect([...ranks].sort()).toEqual(ranks); // punctuation, then digits, then letters
    // narrowing keeps exactly the first allowed of them
    const quote = order[1]!;
    const letter = order.find((t) => texts[t] === 'a')!;
    const narrowed = narrowToFirst(maskOf([letter, quote]), order);
    expect([...narrowed].reduce((n, w) => n + (w.toString(2).match(/1/g)?.length ?? 0), 0)).toBe(1);
    expect((narrowed[quote >> 5]! >>> (quote & 31)) & 1).toBe(1);
  });

  it('takes the longest allowed token that starts the forced text', () => {
    const { texts } = vocabOf('stories260k');
    const closing = { order: [], texts, byFirstChar: tokensByFirstChar(texts) };
    const forced = ' the little girl';
    const candidates = texts
      .map((t, id) => [t, id] as const)
      .filter(([t]) => t && forced.startsWith(t));
    const longest = candidates.reduce((a, b) => (b[0].length > a[0].length ? b : a));
    const all = maskOf(texts.map((_, i) => i));
    expect(longestForcedToken(all, forced, closing)).toBe(longest[1]);
    const withoutLongest = maskOf(texts.map((_, i) => i).filter((i) => i !== longest[1]));
    const next = longestForcedToken(withoutLongest, forced, closing);
    expect(forced.startsWith(texts[next]!)).toBe(true);
    expect(texts[next]!.length).toBeLessThanOrEqual(longest[0].length);
    expect(longestForcedToken(maskOf([]), forced, closing)).toBe(-1);
  });
});
