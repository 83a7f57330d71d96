// Byte-level BPE decoding (Llama 3, Qwen2 style): Tokenizer.decode's own path gives exactly what
// @huggingface/tokenizers gives, for random ids with and without special tokens, multi-byte text cut
// anywhere, added tokens that are not special, and ids past the vocabulary.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { IncrementalDecoder, Tokenizer } from '../src/index.ts';

function byteChars(): string[] {
  const chars: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    chars.push(String.fromCodePoint(printable ? b : 256 + extra++));
  }
  return chars;
}

/** A byte-level vocabulary: 256 bytes, words with and without a leading space (Ġ), the bytes of 'é' and '😀' as tokens, then added tokens. */
function makeTokenizerFiles(config: Record<string, unknown> = {}) {
  const chars = byteChars();
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  const words = ['hello', '\u0120world', '\u0120the', 'Ã©', 'ðŁĺ', 'Ģ', '\u0120ðŁĺĢ', 'ing', '\u0120'];
  for (const w of words) vocab[w] ??= Object.keys(vocab).length;
  const added = [
    { content: '<|begin_of_text|>', special: true },
    { content: '<|eot_id|>', special: true },
    { content: '<tool>', special: false },
    { content: '<|reserved|>' }, // no special flag: not special
  ].map((t, i) => ({ id: Object.keys(vocab).length + i, single_word: false, lstrip: false, rstrip: false, normalized: false, ...t }));
  for (const t of added) vocab[t.content] = t.id;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', vocab, merges: [], ignore_merges: true, byte_fallback: false },
  };
  const tokenizerConfig = { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', additional_special_tokens: ['hello'], ...config };
  const dir = mkdtempSync(join(tmpdir(), 'pagoda-byte-level-'));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  return { dir, tokenizerJson, tokenizerConfig, size: Object.keys(vocab).length };
}

/** mulberry32: the same random ids every run. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('byte-level decode', () => {
  const files = makeTokenizerFiles();
  const tokenizer = Tokenizer.fromDir(files.dir);
  const library = new HfTokenizer(files.tokenizerJson, { ...files.tokenizerConfig, clean_up_tokenization_spaces: false });

  it('matches the library on random id sequences, specials skipped and kept', () => {
    const next = rng(7);
    for (let n = 0; n < 2000; n++) {
      const ids = Array.from({ length: 1 + Math.floor(next() * 12) }, () => Math.floor(next() * files.size));
      for (const skip of [true, false]) {
        expect(tokenizer.decode(ids, { skipSpecialTokens: skip })).toBe(library.decode(ids, { skip_special_tokens: skip }));
      }
    }
  });

  it('decodes words, multi-byte characters and added tokens as text', () => {
    const id = (t: string) => tokenizer.tokenToId(t)!;
    const ids = [id('<|begin_of_text|>'), id('hello'), id('\u0120world'), id('Ã©'), id('<tool>'), id('\u0120ðŁĺĢ'), id('<|eot_id|>')];
    // additional_special_tokens makes 'hello' special too
    expect(tokenizer.decode(ids)).toBe(' worldé<tool> 😀');
    expect(tokenizer.decode(ids, { skipSpecialTokens: false })).toBe('<|begin_of_text|>hello worldé<tool> 😀<|eot_id|>');
    // an emoji cut in two decodes to replacement characters, as the library does
    expect(tokenizer.decode([id('ðŁĺ')])).toBe(library.decode([id('ðŁĺ')], { skip_special_tokens: true }));
    expect(tokenizer.decode([id('ðŁĺ')])).toContain('\uFFFD');
  });

  it('streams whole characters through the incremental decoder', () => {
    const id = (t: string) => tokenizer.tokenToId(t)!;
    const decoder = new IncrementalDecoder(tokenizer);
    expect(decoder.push([id('\u0120the')])).toBe(' the');
    expect(decoder.push([id('\u0120')])).toBe(' ');
    expect(decoder.push([id('ðŁĺ')])).toBe(''); // three of the emoji's four bytes: held back
    expect(decoder.push([id('Ģ')])).toBe('😀');
  });

  it('leaves ids past the vocabulary out', () => {
    expect(tokenizer.decode([files.size + 5, tokenizer.tokenToId('ing')!, 1_000_000])).toBe('ing');
    expect(tokenizer.decode([files.size + 5])).toBe('');
  });

  it('keeps the library path when the config asks for space clean-up', () => {
    const cleanup = makeTokenizerFiles({ clean_up_tokenization_spaces: true });
    const t = Tokenizer.fromDir(cleanup.dir);
    const lib = new HfTokenizer(cleanup.tokenizerJson, { ...cleanup.tokenizerConfig, clean_up_tokenization_spaces: true });
    const comma = t.tokenToId(',')!;
    const spaced = [t.tokenToId('\u0120the')!, t.tokenToId('\u0120')!, comma, t.tokenToId('ing')!];
    expect(t.decode(spaced)).toBe(lib.decode(spaced, { skip_special_tokens: true }));
    expect(t.decode([t.tokenToId('\u0120the')!, t.tokenToId('\u0120')!, comma])).toBe(' the,');
  });
});
