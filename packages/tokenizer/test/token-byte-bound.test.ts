// The byte bound that lets a runner refuse a prompt before tokenizing it must never overshoot: for every
// shared tokenizer and texts of many kinds, minTokens(text) <= the real token count; and tokenizers that
// can fold unbounded text into one token (WordPiece [UNK], Unigram) get no bound at all.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../src/index.ts';
import { STORIES_DIR } from './model-dir.ts';

const MODELS = join(STORIES_DIR, '..');

/** Deterministic texts: ASCII prose, runs of spaces, digits, CJK, emoji, combining marks, Hangul jamo, raw bytes. */
function texts(): string[] {
  const pieces = ['Once upon a time ', '     ', '1234567890', '日本語の文章', '😀🎉👩‍👩‍👧', 'e\u0301a\u0308', '\u1100\u1161\u11a8', '\u{1d400}\u{1d401}', '\n\t', 'ﬃ', '<s>', '</s>'];
  const out: string[] = [...pieces];
  let seed = 7;
  for (let i = 0; i < 60; i++) {
    let s = '';
    for (let j = 0; j < 40; j++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      s += pieces[seed % pieces.length];
    }
    out.push(s);
  }
  out.push('x'.repeat(5000), 'Hello world. '.repeat(300));
  return out;
}

describe('minTokens (the byte bound)', () => {
  for (const name of ['stories260k', 'tiny-llama3', 'tiny-qwen2', 'tiny-qwen3']) {
    it(`never exceeds the real token count (${name})`, () => {
      const tokenizer = Tokenizer.fromDir(join(MODELS, name));
      expect(tokenizer.maxBytesPerToken).toBeGreaterThan(0);
      for (const text of texts()) {
        const real = tokenizer.encode(text, { addSpecialTokens: false }).length;
        expect(tokenizer.minTokens(text), JSON.stringify(text.slice(0, 40))).toBeLessThanOrEqual(real);
      }
      // and it is tight enough to matter: a megabyte is refused long before tokenizing
      expect(tokenizer.minTokens('x'.repeat(2 ** 20))).toBeGreaterThan(50_000);
    });
  }

  for (const name of ['wave2/tiny-bert-embed', 'wave2/tiny-xlmr-embed']) {
    it(`is absent for a tokenizer that can fold any run of text into one token (${name})`, () => {
      const tokenizer = Tokenizer.fromDir(join(MODELS, name));
      expect(tokenizer.maxBytesPerToken).toBeNull();
      expect(tokenizer.minTokens('x'.repeat(10_000))).toBe(0);
    });
  }
});
