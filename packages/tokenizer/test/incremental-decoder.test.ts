// Streaming detokenization: the streamed pieces join to the full decode, and no piece carries a broken character.
import { describe, expect, it } from 'vitest';
import { IncrementalDecoder, Tokenizer } from '../src/index.ts';
import { STORIES_DIR, readGolden } from './model-dir.ts';

const tokenizer = Tokenizer.fromDir(STORIES_DIR);
const { cases } = readGolden<{ cases: { text: string; ids: number[] }[] }>('tokenizer-stories260k.golden.json');

/** Streams ids in chunks of `chunk`; returns every piece push() and flush() returned. */
function stream(ids: number[], chunk: number, options: ConstructorParameters<typeof IncrementalDecoder>[1] = {}): string[] {
  const decoder = new IncrementalDecoder(tokenizer, options);
  const pieces: string[] = [];
  for (let i = 0; i < ids.length; i += chunk) pieces.push(decoder.push(ids.slice(i, i + chunk)));
  pieces.push(decoder.flush());
  return pieces;
}

describe('IncrementalDecoder over the golden texts', () => {
  for (const chunk of [1, 3]) {
    it.each(cases.map((c) => [JSON.stringify(c.text).slice(0, 40), c] as const))(
      `streams %s in chunks of ${chunk} to the full decode`,
      (_, c) => {
        const pieces = stream(c.ids, chunk);
        expect(pieces.join('')).toBe(tokenizer.decode(c.ids));
        for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
      },
    );
  }

  it('streams with special tokens kept, as decode does', () => {
    for (const c of cases) {
      const pieces = stream(c.ids, 1, { skipSpecialTokens: false });
      expect(pieces.join('')).toBe(tokenizer.decode(c.ids, { skipSpecialTokens: false }));
    }
  });
});

describe('IncrementalDecoder on multi-byte text', () => {
  it('emits each emoji and CJK character whole, never a part of its bytes', () => {
    const text = '東京 😀 and 👩\u200d💻 in 中文';
    const ids = tokenizer.encode(text);
    const pieces = stream(ids, 1);
    expect(pieces.join('')).toBe(text);
    // Byte-fallback tokens are held back until their character is complete.
    expect(pieces.filter((p) => p === '').length).toBeGreaterThan(5);
    for (const piece of pieces) {
      expect(piece).not.toContain('\uFFFD');
      expect(piece).toBe(piece.normalize()); // a lone surrogate would not round-trip
      expect(/[\uD800-\uDBFF]$/.test(piece)).toBe(false);
    }
    expect(pieces).toContain('😀');
  });

  it('flush gives back an unfinished character as U+FFFD', () => {
    const emojiBytes = tokenizer.encode('😀', { addSpecialTokens: false }).filter((id) => tokenizer.idToToken(id)!.startsWith('<0x'));
    expect(emojiBytes).toHaveLength(4);
    const decoder = new IncrementalDecoder(tokenizer);
    expect(decoder.push([403])).toBe('Once');
    expect(decoder.push(emojiBytes.slice(0, 2))).toBe('');
    expect(decoder.flush()).toMatch(/^\uFFFD+$/);
    expect(decoder.flush()).toBe('');
  });
});

describe('IncrementalDecoder spaces', () => {
  it('keeps the leading space of the first generated token after a prompt', () => {
    const prompt = tokenizer.encode('Once upon a');
    const generated = tokenizer.encode(' time there', { addSpecialTokens: false });
    const decoder = new IncrementalDecoder(tokenizer, { promptIds: prompt });
    const first = decoder.push(generated.slice(0, 1));
    expect(first.startsWith(' ')).toBe(true);
    expect(first + decoder.push(generated.slice(1)) + decoder.flush()).toBe(' time there');
  });

  it('treats ids without a prompt as the sequence start (no leading space)', () => {
    const decoder = new IncrementalDecoder(tokenizer);
    expect(decoder.push(tokenizer.encode('Once', { addSpecialTokens: false }))).toBe('Once');
  });

  it('keeps the space after a skipped special token mid-stream', () => {
    const ids = [...tokenizer.encode('a time'), 2, ...tokenizer.encode('Once more', { addSpecialTokens: false })];
    expect(stream(ids, 1).join('')).toBe(tokenizer.decode(ids));
    expect(tokenizer.decode(ids)).toBe('a time Once more');
  });

  it('streams a long generation the same as one decode', () => {
    const text = 'Tom and Lily were best friends. One day they found a big red ball in the garden. '.repeat(40);
    const ids = tokenizer.encode(text);
    expect(stream(ids, 1).join('')).toBe(tokenizer.decode(ids));
  });
});
