// The stories260k tokenizer against the Rust tokenizers golden (ids with BOS, decoded without specials)
// and the prompt ids of every engine golden file.
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { Tokenizer } from '../src/index.ts';
import { GOLDEN_DIR, STORIES_DIR, makeModelDir, readGolden, readStoriesJson, removeModelDirs } from './model-dir.ts';

interface TokenizerCase {
  text: string;
  ids: number[];
  decoded: string;
}
interface EngineGolden {
  cases: { prompt_text: string; prompt_ids: number[] }[];
}

const tokenizer = Tokenizer.fromDir(STORIES_DIR);
const { cases } = readGolden<{ cases: TokenizerCase[] }>('tokenizer-stories260k.golden.json');

describe('stories260k tokenizer golden', () => {
  it.each(cases.map((c) => [JSON.stringify(c.text).slice(0, 50), c] as const))('encodes %s exactly', (_, c) => {
    expect(tokenizer.encode(c.text)).toEqual(c.ids);
  });

  it.each(cases.map((c) => [JSON.stringify(c.text).slice(0, 50), c] as const))('decodes %s exactly', (_, c) => {
    expect(tokenizer.decode(c.ids)).toBe(c.decoded);
  });

  it('encodes every engine golden prompt to its prompt_ids', () => {
    const files = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.golden.json') && !f.startsWith('tokenizer-') && !f.startsWith('chat-'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      for (const c of readGolden<EngineGolden>(file).cases) expect(tokenizer.encode(c.prompt_text), file).toEqual(c.prompt_ids);
    }
  });
});

describe('SentencePiece prefix space, as transformers 5 builds LlamaTokenizer', () => {
  afterAll(removeModelDirs);
  const config = readStoriesJson('tokenizer_config.json');

  it('legacy: prefixes every piece that lacks a space, even after a special token', () => {
    expect(tokenizer.encode('</s>Once', { addSpecialTokens: false })).toEqual([2, 403]);
    expect(tokenizer.encode(' ', { addSpecialTokens: false })).toEqual([410]);
  });

  it('legacy false: prefixes only the first piece', () => {
    const modern = Tokenizer.fromDir(makeModelDir({ 'tokenizer_config.json': { ...config, legacy: false } }));
    expect(modern.encode('Once', { addSpecialTokens: false })).toEqual([403]);
    const afterSpecial = modern.encode('</s>Once', { addSpecialTokens: false });
    expect(afterSpecial[0]).toBe(2);
    expect(afterSpecial.slice(1)).not.toEqual([403]);
    expect(modern.decode(afterSpecial, { skipSpecialTokens: true })).toBe('Once');
  });

  it('add_prefix_space false: never prefixes', () => {
    const bare = Tokenizer.fromDir(makeModelDir({ 'tokenizer_config.json': { ...config, add_prefix_space: false } }));
    expect(bare.encode('Once', { addSpecialTokens: false })).not.toEqual([403]);
    expect(bare.encode(' Once', { addSpecialTokens: false })).toEqual([403]);
  });
});

describe('Tokenizer', () => {
  it('reports vocabulary size and special ids from the config files', () => {
    expect(tokenizer.vocabSize).toBe(512);
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.eosTokenId).toBe(2);
    expect(tokenizer.eosTokenIds).toEqual([2]);
    expect(tokenizer.specialTokens).toEqual({ bos: '<s>', eos: '</s>', unk: '<unk>', pad: null });
  });

  it('maps tokens and ids both ways', () => {
    expect(tokenizer.tokenToId('<s>')).toBe(1);
    expect(tokenizer.idToToken(410)).toBe('\u2581');
    expect(tokenizer.tokenToId(tokenizer.idToToken(403)!)).toBe(403);
    expect(tokenizer.tokenToId('no such token')).toBeUndefined();
    expect(tokenizer.idToToken(512)).toBeUndefined();
  });

  it('leaves out BOS when asked to', () => {
    expect(tokenizer.encode('Once upon a time', { addSpecialTokens: false })).toEqual([403, 407, 261, 378]);
  });

  it('keeps special tokens in decoded text when asked to', () => {
    expect(tokenizer.decode([1, 403, 407, 2], { skipSpecialTokens: false })).toBe('<s> Once upon</s>'); // as the Rust library: the strip only applies at the very start
    expect(tokenizer.decode([1, 403, 407, 2])).toBe('Once upon');
  });

  it('decodes an empty list and ids past the vocabulary to nothing', () => {
    expect(tokenizer.decode([])).toBe('');
    expect(tokenizer.decode([403, 100_000])).toBe('Once');
  });
});
