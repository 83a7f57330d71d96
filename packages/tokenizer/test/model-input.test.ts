// Embedding and rerank inputs (WordPiece and Unigram tokenizer.json files, pairs with token
// type ids, truncation to max_seq_length) against the ids the wave-2 goldens were computed on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../src/index.ts';
import { longestFirst } from '../src/model-input.ts';

const MODELS = new URL('../../../../shared/models/wave2', import.meta.url).pathname;
const GOLDEN = new URL('../../../../shared/fixtures/wave2/golden', import.meta.url).pathname;

interface EmbedCase {
  text: string;
  input_ids: number[];
  token_type_ids?: number[];
  n_tokens_untruncated: number;
  truncated: boolean;
}
interface RerankCase {
  query: string;
  document: string;
  input_ids: number[];
  token_type_ids?: number[];
}

function golden<T>(name: string): { max_seq_length: number; cases: T[] } {
  return JSON.parse(readFileSync(join(GOLDEN, `${name}.golden.json`), 'utf8')) as { max_seq_length: number; cases: T[] };
}

describe.each(['tiny-bert-embed', 'tiny-xlmr-embed', 'tiny-qwen3-embed'])('%s inputs', (name) => {
  const tokenizer = Tokenizer.fromDir(join(MODELS, name));
  const g = golden<EmbedCase>(name);
  it.each(g.cases.map((c) => [JSON.stringify(c.text).slice(0, 40), c] as const))('encodes %s as fed', (_, c) => {
    const input = tokenizer.encodeInput(c.text, null, { maxLength: g.max_seq_length, truncate: true });
    expect(input.ids).toEqual(c.input_ids);
    if (c.token_type_ids) expect(input.typeIds).toEqual(c.token_type_ids);
    expect(input.untruncatedLength).toBe(c.n_tokens_untruncated);
    expect(input.truncated).toBe(c.truncated);
  });
  it('keeps the full length when truncation is not asked for', () => {
    const long = g.cases.find((c) => c.truncated);
    expect(long).toBeDefined();
    const input = tokenizer.encodeInput(long!.text, null, { maxLength: g.max_seq_length });
    expect(input.ids.length).toBe(long!.n_tokens_untruncated);
    expect(input.truncated).toBe(false);
  });
});

describe.each(['tiny-bert-rerank', 'tiny-xlmr-rerank'])('%s pairs', (name) => {
  const tokenizer = Tokenizer.fromDir(join(MODELS, name));
  const g = golden<RerankCase>(name);
  it.each(g.cases.map((c) => [c.query.slice(0, 40), c] as const))('encodes (%s, document) as fed', (_, c) => {
    const input = tokenizer.encodeInput(c.query, c.document, { maxLength: 512, truncate: true });
    expect(input.ids).toEqual(c.input_ids);
    expect(input.typeIds).toEqual(c.token_type_ids ?? c.input_ids.map(() => 0));
  });
  it('truncates a long pair longest side first, keeping every special token', () => {
    const c = g.cases[0]!;
    const doc = Array.from({ length: 200 }, () => c.document).join(' ');
    const input = tokenizer.encodeInput(c.query, doc, { maxLength: 64, truncate: true });
    expect(input.ids.length).toBe(64);
    const full = tokenizer.encodeInput(c.query, c.document);
    // the query (shorter) is whole: the ids start with the golden's query part
    const queryPart = c.input_ids.slice(0, c.input_ids.indexOf(c.input_ids.at(-1)!) + 1);
    expect(input.ids.slice(0, queryPart.length)).toEqual(queryPart);
    expect(input.ids.at(-1)).toBe(full.ids.at(-1));
    expect(input.truncated).toBe(true);
  });
});

describe('longest_first truncation (the tokenizers library rule)', () => {
  it('cuts the longer side first and halves when both are long', () => {
    expect(longestFirst(5, 100, 20)).toEqual([5, 15]);
    expect(longestFirst(100, 5, 20)).toEqual([15, 5]);
    expect(longestFirst(50, 60, 21)).toEqual([10, 11]);
    expect(longestFirst(3, 4, 20)).toEqual([3, 4]);
  });
});
