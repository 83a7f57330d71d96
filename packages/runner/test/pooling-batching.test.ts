// Batching across concurrent pooling requests on the CPU engine (tiny-bert-embed and
// tiny-bert-rerank of ../shared/models/wave2): requests issued together share engine calls, each
// still gets exactly what it gets alone (in its own order), and a request with a bad input fails
// alone while the others it was merged with succeed.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolingTokens } from '../src/backend.ts';
import { PoolingBackend } from '../src/backends/pooling.ts';
import { ServeOptionsSchema } from '../src/serve-options.ts';
import { REPO_ROOT } from './helpers/serve-process.ts';

const WAVE2 = `${REPO_ROOT}../shared/models/wave2`;
const log = pino({ level: 'silent' });

function backendFor(model: string) {
  return new PoolingBackend(ServeOptionsSchema.parse({ model: `${WAVE2}/${model}`, device: 'cpu', cpu_threads: 1 }), log);
}

const TEXTS = [
  'the quick brown fox',
  'a second, longer text about retrieval pipelines and rerankers',
  'x',
  'numbers 1 2 3 4 5',
  'embeddings for search',
  'another query',
];

let embedder: PoolingBackend;
let reranker: PoolingBackend;
beforeAll(async () => {
  embedder = backendFor('tiny-bert-embed');
  reranker = backendFor('tiny-bert-rerank');
  await Promise.all([embedder.load(), reranker.load()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([embedder?.shutdown(), reranker?.shutdown()]);
});

describe('concurrent pooling requests', () => {
  it('share engine calls and get the same embeddings as alone', async () => {
    const tokens = TEXTS.map((t) => embedder.encodeInput(t, null, null));
    const alone: Float32Array[][] = [];
    for (const t of tokens) alone.push(await embedder.embed([t, t]));
    const before = embedder.engineCalls;
    const together = await Promise.all(tokens.map((t) => embedder.embed([t, t])));
    // Six requests: the first starts an engine call, the other five wait and share the next.
    expect(embedder.engineCalls - before).toBeLessThanOrEqual(2);
    for (let i = 0; i < tokens.length; i++) {
      expect(together[i]).toHaveLength(2);
      for (let k = 0; k < 2; k++) {
        const got = Array.from(together[i]![k]!);
        const want = Array.from(alone[i]![k]!);
        expect(got.length).toBe(want.length);
        for (let d = 0; d < want.length; d++) expect(got[d]).toBeCloseTo(want[d]!, 6);
      }
    }
  });

  it('a bad request fails alone; the requests merged with it succeed', async () => {
    const good = TEXTS.slice(0, 3).map((t) => embedder.encodeInput(t, null, null));
    const bad: PoolingTokens = { ids: [101, 10_000_000, 102], typeIds: [0, 0, 0] };
    const results = await Promise.allSettled([
      embedder.embed([good[0]!]),
      embedder.embed([bad]),
      embedder.embed([good[1]!, good[2]!]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/outside the vocabulary/);
    const third = (results[2] as PromiseFulfilledResult<Float32Array[]>).value;
    expect(third).toHaveLength(2);
    const alone = await embedder.embed([good[2]!]);
    expect(Array.from(third[1]!)[0]).toBeCloseTo(Array.from(alone[0]!)[0]!, 6);
  });

  it('rerank scores of concurrent requests match the scores alone', async () => {
    const pairs = TEXTS.map((t, i) => reranker.encodeInput(TEXTS[(i + 1) % TEXTS.length]!, t, null));
    const alone: number[] = [];
    for (const p of pairs) alone.push((await reranker.score([p]))[0]!);
    const before = reranker.engineCalls;
    const together = await Promise.all(pairs.map((p) => reranker.score([p])));
    expect(reranker.engineCalls - before).toBeLessThanOrEqual(2);
    together.forEach((s, i) => expect(s[0]).toBeCloseTo(alone[i]!, 5));
  });
});
