// Embeddings and rerank through real `pagoda serve` children on the CPU engine: the official
// openai client's embeddings.create, unmodified (float and base64), against the
// sentence-transformers golden of tiny-bert-embed; rerank in Cohere's and Xinference's shape
// and vLLM's /score with plain fetch against the transformers golden of tiny-bert-rerank; and
// the 400s: over-long input, empty input, a chat request to an embedding model and the reverse.
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, STORIES, startServe, type ServeProcess } from './helpers/serve-process.ts';

const WAVE2 = `${REPO_ROOT}../shared/models/wave2`;
const GOLDEN = `${REPO_ROOT}../shared/fixtures/wave2/golden`;

interface EmbedCase {
  text: string;
  input_ids: number[];
  embedding_f32_b64: string;
  n_tokens: number;
  truncated: boolean;
}
interface RerankCase {
  query: string;
  document: string;
  logit: number;
  score_sigmoid: number;
}
const embedGolden = JSON.parse(readFileSync(`${GOLDEN}/tiny-bert-embed.golden.json`, 'utf8')) as {
  max_seq_length: number;
  cases: EmbedCase[];
};
const rerankGolden = JSON.parse(readFileSync(`${GOLDEN}/tiny-bert-rerank.golden.json`, 'utf8')) as { cases: RerankCase[] };
const fits = embedGolden.cases.filter((c) => !c.truncated);
const long = embedGolden.cases.find((c) => c.truncated)!;

const f32 = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
};
function expectClose(got: ArrayLike<number>, want: Float32Array) {
  expect(got.length).toBe(want.length);
  let ab = 0, aa = 0, bb = 0, worst = 0;
  for (let i = 0; i < want.length; i++) {
    ab += got[i]! * want[i]!;
    aa += got[i]! * got[i]!;
    bb += want[i]! * want[i]!;
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  }
  expect(ab / Math.sqrt(aa * bb)).toBeGreaterThanOrEqual(0.9999);
  expect(worst).toBeLessThan(1e-4);
}

let embed: ServeProcess;
let rerank: ServeProcess;
let llm: ServeProcess;
let client: OpenAI;

beforeAll(async () => {
  [embed, rerank, llm] = await Promise.all([
    startServe([`${WAVE2}/tiny-bert-embed`, '--served-model-name', 'bge-tiny', '--device', 'cpu', '--cpu-threads', '1']),
    startServe([`${WAVE2}/tiny-bert-rerank`, '--served-model-name', 'reranker', '--device', 'cpu', '--cpu-threads', '1']),
    startServe([STORIES, '--served-model-name', 'stories', '--device', 'cpu', '--max-model-len', '128', '--cpu-threads', '1']),
  ]);
  client = new OpenAI({ baseURL: `${embed.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 120_000);
afterAll(async () => {
  await Promise.all([embed?.stop(), rerank?.stop(), llm?.stop()]);
});

async function post(base: string, path: string, body: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error: { message: string; param: string | null } } };
}

describe('POST /v1/embeddings with the openai client', () => {
  it('float: a list of texts gives the golden embeddings in order, with usage', async () => {
    const res = await client.embeddings.create({ model: 'bge-tiny', input: fits.map((c) => c.text), encoding_format: 'float' });
    expect(res.object).toBe('list');
    expect(res.model).toBe('bge-tiny');
    expect(res.data.map((d) => d.index)).toEqual(fits.map((_, i) => i));
    for (const [i, c] of fits.entries()) expectClose(res.data[i]!.embedding, f32(c.embedding_f32_b64));
    const tokens = fits.reduce((n, c) => n + c.n_tokens, 0);
    expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('base64 (the client default, decoded by the client) gives the same vectors bit for bit as float', async () => {
    const viaDefault = await client.embeddings.create({ model: 'bge-tiny', input: fits[0]!.text });
    const viaFloat = await client.embeddings.create({ model: 'bge-tiny', input: fits[0]!.text, encoding_format: 'float' });
    expect(viaDefault.data[0]!.embedding).toEqual(viaFloat.data[0]!.embedding);
    const raw = await client.embeddings.create({ model: 'bge-tiny', input: fits[1]!.text, encoding_format: 'base64' });
    expectClose(f32(raw.data[0]!.embedding as unknown as string), f32(fits[1]!.embedding_f32_b64));
  });

  it('token ids (one list, or a list of lists) are fed as given', async () => {
    const one = await client.embeddings.create({ model: 'bge-tiny', input: fits[2]!.input_ids, encoding_format: 'float' });
    expectClose(one.data[0]!.embedding, f32(fits[2]!.embedding_f32_b64));
    const many = await client.embeddings.create({
      model: 'bge-tiny',
      input: [fits[3]!.input_ids, fits[4]!.input_ids],
      encoding_format: 'float',
    });
    expectClose(many.data[1]!.embedding, f32(fits[4]!.embedding_f32_b64));
    expect(many.usage.prompt_tokens).toBe(fits[3]!.n_tokens + fits[4]!.n_tokens);
  });

  it('an input over max_seq_length is refused unless truncation is asked for, then matches the truncated golden', async () => {
    const refused = await post(embed.url, '/v1/embeddings', { model: 'bge-tiny', input: long.text });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/more than this model's maximum of 128/);
    expect(refused.body.error.param).toBe('input');
    const cut = await client.embeddings.create({
      model: 'bge-tiny',
      input: long.text,
      encoding_format: 'float',
      // vLLM's parameter, passed through the client untouched
      ...({ truncate_prompt_tokens: -1 } as object),
    });
    expectClose(cut.data[0]!.embedding, f32(long.embedding_f32_b64));
    expect(cut.usage.prompt_tokens).toBe(embedGolden.max_seq_length);
  });

  it('empty input, dimensions on a model without Matryoshka training, and chat are 400s with the reason', async () => {
    for (const input of ['', [], [''], [[]]]) {
      const r = await post(embed.url, '/v1/embeddings', { model: 'bge-tiny', input });
      expect(r.status, JSON.stringify(input)).toBe(400);
      expect(r.body.error.message).toMatch(/empty/);
    }
    const dims = await post(embed.url, '/v1/embeddings', { model: 'bge-tiny', input: 'x', dimensions: 16 });
    expect(dims.status).toBe(400);
    expect(dims.body.error.param).toBe('dimensions');
    await expect(
      client.chat.completions.create({ model: 'bge-tiny', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/embedding model: it serves \/v1\/embeddings/) });
    const rerankOnEmbed = await post(embed.url, '/v1/rerank', { model: 'bge-tiny', query: 'q', documents: ['d'] });
    expect(rerankOnEmbed.status).toBe(400);
  });

  it('an embeddings request to a generative model is a 400 naming what it serves', async () => {
    const llmClient = new OpenAI({ baseURL: `${llm.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await expect(llmClient.embeddings.create({ model: 'stories', input: 'hello' })).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/generative model.*not \/v1\/embeddings/),
    });
  });
});

describe('POST /v1/rerank and /score', () => {
  const byQuery = new Map<string, RerankCase[]>();
  for (const c of rerankGolden.cases) byQuery.set(c.query, [...(byQuery.get(c.query) ?? []), c]);

  it("Cohere's shape: scores are the golden sigmoid, sorted, top_n and return_documents honoured", async () => {
    for (const [query, cases] of byQuery) {
      const r = await post(rerank.url, '/v1/rerank', {
        model: 'reranker',
        query,
        documents: cases.map((c) => c.document),
        top_n: cases.length,
        return_documents: true,
      });
      expect(r.status).toBe(200);
      const results = r.body.results as { index: number; relevance_score: number; document: { text: string } }[];
      expect(results).toHaveLength(cases.length);
      for (const res of results) {
        expect(Math.abs(res.relevance_score - cases[res.index]!.score_sigmoid)).toBeLessThan(1e-4);
        expect(res.document.text).toBe(cases[res.index]!.document);
      }
      const scores = results.map((x) => x.relevance_score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
    }
    const all = rerankGolden.cases.map((c) => c.document);
    const top = await post(rerank.url, '/v1/rerank', { model: 'reranker', query: 'spiders', documents: all, top_n: 2 });
    const ranked = top.body.results as { index: number; relevance_score: number; document?: unknown }[];
    expect(ranked).toHaveLength(2);
    expect(ranked[0]!.relevance_score).toBeGreaterThanOrEqual(ranked[1]!.relevance_score);
    expect(ranked[0]!.document).toBeUndefined();
  });

  it("Xinference's shape (documents as {text} objects, its extra knobs) answers with index and relevance_score", async () => {
    const c = rerankGolden.cases[0]!;
    const r = await post(rerank.url, '/v1/rerank', {
      model: 'reranker',
      query: c.query,
      documents: [{ text: c.document }],
      return_documents: false,
      max_chunks_per_doc: null,
      return_len: true,
    });
    expect(r.status).toBe(200);
    const [res] = r.body.results as { index: number; relevance_score: number }[];
    expect(res!.index).toBe(0);
    expect(Math.abs(res!.relevance_score - c.score_sigmoid)).toBeLessThan(1e-4);
    expect(typeof r.body.id).toBe('string');
    expect((r.body.meta as { tokens: { input_tokens: number } }).tokens.input_tokens).toBeGreaterThan(0);
  });

  it("vLLM's /score pairs text_1 with text_2 element-wise", async () => {
    const cases = rerankGolden.cases;
    const r = await post(rerank.url, '/score', {
      model: 'reranker',
      text_1: cases.map((c) => c.query),
      text_2: cases.map((c) => c.document),
    });
    expect(r.status).toBe(200);
    const data = r.body.data as { index: number; score: number }[];
    for (const [i, c] of cases.entries()) expect(Math.abs(data[i]!.score - c.score_sigmoid)).toBeLessThan(1e-4);
  });

  it('an empty query or no documents, and an embeddings request to the reranker, are 400s', async () => {
    expect((await post(rerank.url, '/v1/rerank', { model: 'reranker', query: '', documents: ['d'] })).status).toBe(400);
    expect((await post(rerank.url, '/v1/rerank', { model: 'reranker', query: 'q', documents: [] })).status).toBe(400);
    const e = await post(rerank.url, '/v1/embeddings', { model: 'reranker', input: 'x' });
    expect(e.status).toBe(400);
    expect(e.body.error.message).toMatch(/rerank model/);
  });
});
