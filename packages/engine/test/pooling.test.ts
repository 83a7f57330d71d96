// PoolingEngine through the addon: a Unigram / XLM-R embedding model and a BERT cross-encoder
// on the CPU against their transformers goldens (the ids the goldens fed), and what it refuses.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidEngineOptionsError, InvalidRequestError, PoolingEngine } from '../src/index.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const models = `${repo}../shared/models/wave2`;
const golden = (name: string) =>
  JSON.parse(readFileSync(`${repo}../shared/fixtures/wave2/golden/${name}.golden.json`, 'utf8')) as {
    cases: Array<{ input_ids: number[]; token_type_ids?: number[]; embedding?: number[]; logit?: number }>;
  };

let embedder: PoolingEngine;
let reranker: PoolingEngine;
beforeAll(async () => {
  embedder = await PoolingEngine.load({ model: `${models}/tiny-xlmr-embed`, device: 'cpu', num_threads: 1 });
  reranker = await PoolingEngine.load({ model: `${models}/tiny-bert-rerank`, device: 'cpu', num_threads: 1 });
});
afterAll(() => {
  embedder?.close();
  reranker?.close();
});

describe('PoolingEngine', () => {
  it('reports what the checkpoint says: task, pooling, normalization, max length', () => {
    expect(embedder.info).toMatchObject({ architecture: 'XLMRobertaModel', task: 'embed', pooling: 'cls', normalize: true, max_input_tokens: 128, hidden_size: 64 });
    expect(reranker.info).toMatchObject({ architecture: 'BertForSequenceClassification', task: 'score' });
  });

  it('embeds a packed batch to the golden vectors', async () => {
    const cases = golden('tiny-xlmr-embed').cases;
    const out = await embedder.embed(cases.map((c) => ({ token_ids: c.input_ids })));
    for (const [i, c] of cases.entries()) {
      const worst = Math.max(...Array.from(out[i]!, (v, k) => Math.abs(v - c.embedding![k]!)));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('scores pairs with token type ids to the golden logits', async () => {
    const cases = golden('tiny-bert-rerank').cases;
    const logits = await reranker.score(cases.map((c) => ({ token_ids: c.input_ids, token_type_ids: c.token_type_ids })));
    for (const [i, c] of cases.entries()) expect(Math.abs(logits[i]! - c.logit!)).toBeLessThan(1e-4);
  });

  it('refuses an over-long input, an empty one, the wrong task, and a generative checkpoint', async () => {
    await expect(embedder.embed([{ token_ids: new Array(129).fill(5) }])).rejects.toThrow(InvalidRequestError);
    await expect(embedder.embed([{ token_ids: [] }])).rejects.toThrow(/empty/);
    await expect(embedder.score([{ token_ids: [0, 5, 2] }])).rejects.toThrow(/cannot score/);
    await expect(PoolingEngine.load({ model: `${repo}../shared/models/stories260k`, device: 'cpu' })).rejects.toThrow(InvalidEngineOptionsError);
  });
});
