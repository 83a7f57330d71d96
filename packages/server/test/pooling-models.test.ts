// Embedding, rerank and LLM side by side: one worker with ONE declared GPU, the three registered
// (under /v1/model_registrations/embedding, /rerank, /LLM), launched onto that GPU and used through
// the server's proxy — embeddings with the official openai client, rerank with plain fetch in
// Cohere's shape, chat with the openai client.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneWorkerCluster, TEMPLATE, type OneWorkerCluster } from './one-worker-cluster.ts';
import { ROOT, STORIES, waitFor } from './platform-helpers.ts';

const WAVE2 = join(ROOT, '../shared/models/wave2');
const golden = JSON.parse(readFileSync(join(ROOT, '../shared/fixtures/wave2/golden/tiny-bert-embed.golden.json'), 'utf8')) as {
  cases: { text: string; embedding: number[]; truncated: boolean }[];
};
const rerankGolden = JSON.parse(readFileSync(join(ROOT, '../shared/fixtures/wave2/golden/tiny-xlmr-rerank.golden.json'), 'utf8')) as {
  cases: { query: string; document: string; score_sigmoid: number }[];
};

let c: OneWorkerCluster;

beforeAll(async () => {
  c = await startOneWorkerCluster('pooling');
}, 60_000);
afterAll(async () => {
  await c?.close();
});

describe('embedding, rerank and LLM on one GPU through the proxy', () => {
  it('registers each under its model type and refuses the wrong type', async () => {
    const wrong = await c.api('POST', '/v1/model_registrations/LLM', { model_name: 'emb', model_path: join(WAVE2, 'tiny-bert-embed') });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error?.message ?? JSON.stringify(wrong.json)).toMatch(/embedding model.*\/v1\/model_registrations\/embedding \(pagoda register emb --model-type embedding \.\.\.\)/);
    expect((await c.api('POST', '/v1/model_registrations/embedding', { model_name: 'emb', model_path: join(WAVE2, 'tiny-bert-embed') })).status).toBe(200);
    expect((await c.api('POST', '/v1/model_registrations/rerank', { model_name: 'rr', model_path: join(WAVE2, 'tiny-xlmr-rerank') })).status).toBe(200);
    expect((await c.api('POST', '/v1/model_registrations/LLM', { model_name: 'llm', model_path: STORIES, chat_template: TEMPLATE })).status).toBe(200);
    // A name taken is answered with the path that updates it, under its own type.
    const again = await c.api('POST', '/v1/model_registrations/embedding', { model_name: 'emb', model_path: join(WAVE2, 'tiny-bert-embed') });
    expect(again.status).toBe(409);
    expect(again.json.error.message).toMatch(/PUT or PATCH \/v1\/model_registrations\/embedding\/emb/);
    // A registration changes only under its own type, and only into a checkpoint of that type.
    const crossPath = await c.api('PATCH', '/v1/model_registrations/LLM/emb', { model_path: STORIES });
    expect(crossPath.status).toBe(400);
    expect(crossPath.json.error).toMatchObject({ param: 'model_type', message: expect.stringMatching(/'emb' is registered as an embedding model; change it under \/v1\/model_registrations\/embedding\/emb/) });
    const crossBody = await c.api('PUT', '/v1/model_registrations/embedding/emb', { model_path: STORIES, chat_template: TEMPLATE });
    expect(crossBody.status).toBe(400);
    expect(crossBody.json.error).toMatchObject({ param: 'model_type', message: expect.stringMatching(/is an LLM; 'emb' is registered as an embedding model/) });
    const missing = await c.api('PATCH', '/v1/model_registrations/rerank/nobody', { model_path: join(WAVE2, 'tiny-xlmr-rerank') });
    expect(missing.status).toBe(404);
    expect(missing.json.error.message).toMatch(/POST \/v1\/model_registrations\/rerank/);
    const listed = await c.api('GET', '/v1/model_registrations/embedding');
    expect(listed.json.find((f: { model_name: string }) => f.model_name === 'emb')).toMatchObject({ dimensions: 64 });
    expect(listed.json.some((f: { model_name: string }) => f.model_name === 'bge-m3')).toBe(true);
    expect(listed.json.some((f: { model_name: string }) => f.model_name === 'llm')).toBe(false);
  });

  it('launches all three onto the one GPU', async () => {
    // The LLM takes 80% of the 8 GiB card; the embedding model and the reranker claim only what
    // they use (no KV cache), so both still fit beside it.
    for (const [name, uid, extra] of [['llm', 'l1', { gpu_memory_utilization: 0.8 }], ['emb', 'e1', {}], ['rr', 'r1', {}]] as const) {
      const r = await c.api('POST', '/v1/models', { model_name: name, model_uid: uid, ...extra });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
    for (const uid of ['e1', 'r1', 'l1'])
      await waitFor(`${uid} ready`, async () => (await c.api('GET', `/v1/models/${uid}/progress`)).json.status === 'ready', 90_000, 200);
    const { json } = await c.api('GET', '/v1/models');
    expect(json.data.map((m: { id: string }) => m.id).sort()).toEqual(['e1', 'l1', 'r1']);
    const gpus = new Set<string>();
    for (const uid of ['e1', 'r1', 'l1']) {
      const { json: replicas } = await c.api('GET', `/v1/models/${uid}/replicas`);
      const { json: view } = await c.api('GET', `/v1/models/${uid}`);
      expect(view.model_type).toBe({ e1: 'embedding', r1: 'rerank', l1: 'LLM' }[uid]);
      for (const r of replicas.replicas) {
        expect(r.gpu_idx).toEqual([0]);
        if (uid !== 'l1') expect(r.memory_bytes_per_gpu).toBeLessThan(2 ** 30);
        gpus.add(`${r.worker}:${JSON.stringify(r.gpu_idx)}`);
      }
    }
    expect(gpus.size).toBe(1);
  });

  it('answers embeddings (openai client), rerank (Cohere shape, fetch) and chat through the proxy', async () => {
    const client = new OpenAI({ baseURL: `${c.server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const cases = golden.cases.filter((x) => !x.truncated).slice(0, 3);
    const emb = await client.embeddings.create({ model: 'e1', input: cases.map((x) => x.text), encoding_format: 'float' });
    for (const [i, x] of cases.entries()) {
      const got = emb.data[i]!.embedding;
      expect(Math.max(...got.map((v, k) => Math.abs(v - x.embedding[k]!)))).toBeLessThan(1e-4);
    }
    const pair = rerankGolden.cases[0]!;
    const res = await fetch(`${c.server.url}/v1/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'r1', query: pair.query, documents: [pair.document, 'unrelated words'], top_n: 2, return_documents: true }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: { index: number; relevance_score: number; document: { text: string } }[] };
    const first = body.results.find((r) => r.index === 0)!;
    expect(Math.abs(first.relevance_score - pair.score_sigmoid)).toBeLessThan(1e-4);
    expect(first.document.text).toBe(pair.document);
    // the openai client's models.retrieve reads OpenAI's fields beside Xinference's
    expect(await client.models.retrieve('e1')).toMatchObject({ id: 'e1', object: 'model', owned_by: 'pagoda', model_type: 'embedding' });
    const chat = await client.chat.completions.create({ model: 'l1', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8 });
    expect(chat.choices[0]!.message.content!.length).toBeGreaterThan(0);
    // the wrong route for each model type is a 400 with the reason, relayed from its runner
    await expect(client.chat.completions.create({ model: 'e1', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 400 });
    await expect(client.embeddings.create({ model: 'l1', input: 'hi' })).rejects.toMatchObject({ status: 400 });
  });

  it("forwards vLLM's /tokenize and /detokenize by model, and a model not launched is a 404", async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${c.server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
    };
    const tok = await post('/tokenize', { model: 'l1', prompt: 'Once upon a time', add_special_tokens: false });
    expect(tok.status).toBe(200);
    const tokens = tok.json.tokens as number[];
    expect(tok.json.count).toBe(tokens.length);
    expect(tokens.length).toBeGreaterThan(1);
    const back = await post('/detokenize', { model: 'l1', tokens });
    expect(back).toMatchObject({ status: 200, json: { prompt: 'Once upon a time' } });
    const missing = await post('/tokenize', { model: 'nobody', prompt: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.json.error!.code).toBe('model_not_found');
    expect((await post('/detokenize', { model: 'l1', tokens: [-1] })).status).toBe(400);
  });
});
