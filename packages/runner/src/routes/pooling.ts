// POST /v1/embeddings (OpenAI), /v1/rerank (Cohere / Jina / Xinference / vLLM shape) and
// vLLM's /score, over the backend's PoolingService. Inputs longer than the model's maximum
// are refused unless the request asks for truncation.
import { randomUUID } from 'node:crypto';
import {
  EmbeddingRequestSchema,
  RerankRequestSchema,
  ScoreRequestSchema,
  type EmbeddingRequest,
  type EmbeddingResponse,
  type RerankResponse,
  type ScoreResponse,
} from '@pagoda/protocol';
import type { Request, Response } from 'express';
import { badRequest } from '../api-error.ts';
import type { PoolingService, PoolingTokens } from '../backend.ts';
import { requireReady, resolveModel, type RunnerContext } from '../runner-context.ts';
import { parseBody } from './parse-body.ts';

type Route = '/v1/embeddings' | '/v1/rerank' | '/score';

function poolingOf(ctx: RunnerContext, route: Route, model: string, task?: 'embed' | 'score'): PoolingService {
  const pooling = ctx.backend.pooling;
  if (!pooling)
    throw badRequest(`model '${model}' is a generative model: it serves /v1/chat/completions and /v1/completions, not ${route}`, 'model');
  if (task && pooling.task !== task)
    throw badRequest(
      task === 'embed'
        ? `model '${model}' is a rerank model: it serves /v1/rerank and /score, not ${route}`
        : `model '${model}' is an embedding model: it serves /v1/embeddings and /score, not ${route}`,
      'model',
    );
  return pooling;
}

/** The token limit a request asks to cut to: null (refuse over-long inputs), or a length. */
function truncation(pooling: PoolingService, req: { truncate_prompt_tokens?: number | null; truncate?: boolean | null }): number | null {
  const k = req.truncate_prompt_tokens;
  if (k !== undefined && k !== null) {
    if (k === 0) throw badRequest('truncate_prompt_tokens must be -1 (the maximum) or a positive length', 'truncate_prompt_tokens');
    return k === -1 ? pooling.maxInputTokens : Math.min(k, pooling.maxInputTokens);
  }
  return req.truncate === true ? pooling.maxInputTokens : null;
}

function checkLength(pooling: PoolingService, tokens: PoolingTokens, index: number, param: string): void {
  if (tokens.ids.length > pooling.maxInputTokens)
    throw badRequest(
      `${param}[${index}] has ${tokens.ids.length} tokens, more than this model's maximum of ${pooling.maxInputTokens}; ` +
        'shorten it, or set truncate_prompt_tokens (-1 for the maximum) to have it cut',
      param,
    );
}

/** input as a list of texts or token lists; empty input is refused. */
function embeddingInputs(input: EmbeddingRequest['input']): (string | number[])[] {
  const list: (string | number[])[] =
    typeof input === 'string' ? [input] : input.length > 0 && typeof input[0] === 'number' ? [input as number[]] : (input as (string | number[])[]);
  if (list.length === 0) throw badRequest('input must not be empty', 'input');
  for (const [i, item] of list.entries())
    if (item.length === 0) throw badRequest(`input[${i}] is empty; every input needs at least one token`, 'input');
  return list;
}

function cut(vector: Float32Array, dims: number, normalize: boolean): Float32Array {
  if (dims >= vector.length) return vector;
  const out = vector.slice(0, dims);
  if (normalize) {
    let ss = 0;
    for (const x of out) ss += x * x;
    const norm = Math.max(Math.sqrt(ss), 1e-12);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  }
  return out;
}

function checkDimensions(pooling: PoolingService, dims: number | null | undefined, model: string): number {
  if (dims === undefined || dims === null || dims === pooling.dimensions) return pooling.dimensions;
  const allowed = pooling.matryoshkaDimensions;
  if (allowed === null)
    throw badRequest(`model '${model}' does not support dimensions other than ${pooling.dimensions} (it is not a Matryoshka model)`, 'dimensions');
  if (dims > pooling.dimensions) throw badRequest(`dimensions must be at most ${pooling.dimensions}`, 'dimensions');
  if (allowed !== 'any' && !allowed.includes(dims))
    throw badRequest(`model '${model}' supports dimensions ${[...allowed, pooling.dimensions].join(', ')}`, 'dimensions');
  return dims;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.max(Math.sqrt(aa * bb), 1e-12);
}

const promptTokens = (inputs: PoolingTokens[]) => inputs.reduce((n, i) => n + i.ids.length, 0);

export const embeddingsHandler = (ctx: RunnerContext) => async (req: Request, res: Response) => {
  requireReady(ctx);
  const body = parseBody(EmbeddingRequestSchema, req.body);
  const model = resolveModel(ctx, body.model);
  const pooling = poolingOf(ctx, '/v1/embeddings', model, 'embed');
  const dims = checkDimensions(pooling, body.dimensions, model);
  const limit = truncation(pooling, body);
  const inputs = embeddingInputs(body.input).map((item, i) => {
    const tokens: PoolingTokens =
      typeof item === 'string'
        ? pooling.encodeInput(item, null, limit)
        : { ids: limit === null ? item : item.slice(0, limit), typeIds: [] };
    checkLength(pooling, tokens, i, 'input');
    return tokens;
  });
  const vectors = await pooling.embed(inputs);
  const base64 = body.encoding_format === 'base64';
  const used = promptTokens(inputs);
  const response: EmbeddingResponse = {
    object: 'list',
    data: vectors.map((v, index) => {
      const e = cut(v, dims, pooling.normalized);
      return {
        object: 'embedding',
        index,
        embedding: base64 ? Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64') : Array.from(e),
      };
    }),
    model,
    usage: { prompt_tokens: used, total_tokens: used },
  };
  res.json(response);
};

/** Cross-encoder scores of (query, document) pairs, or embedding cosines for an embedding model. */
async function scorePairs(pooling: PoolingService, pairs: [string, string][], limit: number | null, param: string) {
  if (pooling.task === 'score') {
    const inputs = pairs.map(([q, d], i) => {
      const tokens = pooling.encodeInput(q, d, limit);
      checkLength(pooling, tokens, i, param);
      return tokens;
    });
    const logits = await pooling.score(inputs);
    return { scores: logits.map(sigmoid), used: promptTokens(inputs) };
  }
  const texts = [...new Set(pairs.flat())];
  const inputs = texts.map((t, i) => {
    const tokens = pooling.encodeInput(t, null, limit);
    checkLength(pooling, tokens, i, param);
    return tokens;
  });
  const vectors = await pooling.embed(inputs);
  const at = new Map(texts.map((t, i) => [t, vectors[i]!]));
  return { scores: pairs.map(([a, b]) => cosine(at.get(a)!, at.get(b)!)), used: promptTokens(inputs) };
}

export const rerankHandler = (ctx: RunnerContext) => async (req: Request, res: Response) => {
  requireReady(ctx);
  const body = parseBody(RerankRequestSchema, req.body);
  const model = resolveModel(ctx, body.model);
  const pooling = poolingOf(ctx, '/v1/rerank', model, 'score');
  const docs = body.documents.map((d) => (typeof d === 'string' ? d : d.text));
  const { scores, used } = await scorePairs(pooling, docs.map((d) => [body.query, d]), truncation(pooling, body), 'documents');
  const ranked = scores
    .map((relevance_score, index) => ({ index, relevance_score }))
    .sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index)
    .slice(0, body.top_n ?? docs.length);
  const response: RerankResponse = {
    id: randomUUID(),
    model,
    results: ranked.map((r) => (body.return_documents ? { ...r, document: { text: docs[r.index]! } } : r)),
    usage: { prompt_tokens: used, total_tokens: used },
    meta: {
      api_version: { version: '2' },
      billed_units: { input_tokens: used, search_units: 1 },
      tokens: { input_tokens: used, output_tokens: 0 },
    },
  };
  res.json(response);
};

export const scoreHandler = (ctx: RunnerContext) => async (req: Request, res: Response) => {
  requireReady(ctx);
  const body = parseBody(ScoreRequestSchema, req.body);
  const model = resolveModel(ctx, body.model);
  const pooling = poolingOf(ctx, '/score', model);
  const left = typeof body.text_1 === 'string' ? [body.text_1] : body.text_1;
  const right = typeof body.text_2 === 'string' ? [body.text_2] : body.text_2;
  if (left.length !== 1 && left.length !== right.length)
    throw badRequest(`text_1 holds ${left.length} texts and text_2 ${right.length}: give one text_1, or as many as text_2`, 'text_1');
  for (const [name, list] of [['text_1', left], ['text_2', right]] as const)
    if (list.some((t) => t.length === 0)) throw badRequest(`${name} must not hold an empty text`, name);
  const pairs = right.map((r, i): [string, string] => [left.length === 1 ? left[0]! : left[i]!, r]);
  const { scores, used } = await scorePairs(pooling, pairs, truncation(pooling, body), 'text_2');
  const response: ScoreResponse = {
    id: `score-${randomUUID()}`,
    object: 'list',
    created: Math.floor(Date.now() / 1000),
    model,
    data: scores.map((score, index) => ({ index, object: 'score', score })),
    usage: { prompt_tokens: used, total_tokens: used },
  };
  res.json(response);
};
