// Pooling endpoints: OpenAI's /v1/embeddings, /v1/rerank in the shape Cohere, Jina, Xinference
// and vLLM share, and vLLM's /score (pairs of texts scored by a cross-encoder, or the cosine of
// two embeddings).
import { z } from 'zod';

const tokenIds = z.array(z.number().int().min(0));

/** vLLM's truncate_prompt_tokens: cut inputs to this many tokens (-1: the model's maximum). */
const truncatePromptTokens = z.number().int().min(-1).nullable().optional();

export const EmbeddingRequestSchema = z.strictObject({
  model: z.string().nullable().optional(),
  input: z.union([z.string(), z.array(z.string()), tokenIds, z.array(tokenIds)]),
  encoding_format: z.enum(['float', 'base64']).nullable().optional(),
  dimensions: z.number().int().min(1).nullable().optional(),
  user: z.string().nullable().optional(),
  truncate_prompt_tokens: truncatePromptTokens,
  /** TEI / Pagoda: truncate to the model's maximum instead of refusing a long input. */
  truncate: z.boolean().nullable().optional(),
});
export type EmbeddingRequest = z.infer<typeof EmbeddingRequestSchema>;

export const EmbeddingSchema = z.object({
  object: z.literal('embedding'),
  index: z.number().int(),
  embedding: z.union([z.array(z.number()), z.string()]),
});
export const EmbeddingResponseSchema = z.object({
  object: z.literal('list'),
  data: z.array(EmbeddingSchema),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});
export type EmbeddingResponse = z.infer<typeof EmbeddingResponseSchema>;

/** A document as Cohere v1 / Jina / Xinference send it: text, or an object with text. */
const rerankDocument = z.union([z.string(), z.object({ text: z.string() })]);

// Not strict: clients of the four APIs add their own knobs (max_chunks_per_doc, return_len,
// rank_fields); none changes the scores.
export const RerankRequestSchema = z.object({
  model: z.string().nullable().optional(),
  query: z.string().min(1, 'query must not be empty'),
  documents: z.array(rerankDocument).min(1, 'documents must hold at least one document'),
  top_n: z.number().int().min(1).nullable().optional(),
  return_documents: z.boolean().nullable().optional(),
  truncate_prompt_tokens: truncatePromptTokens,
  truncate: z.boolean().nullable().optional(),
});
export type RerankRequest = z.infer<typeof RerankRequestSchema>;

export const RerankResultSchema = z.object({
  index: z.number().int(),
  relevance_score: z.number(),
  document: z.object({ text: z.string() }).optional(),
});
export const RerankResponseSchema = z.object({
  id: z.string(),
  model: z.string(),
  results: z.array(RerankResultSchema),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
  meta: z.object({
    api_version: z.object({ version: z.string() }),
    billed_units: z.object({ input_tokens: z.number().int(), search_units: z.number().int() }),
    tokens: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
  }),
});
export type RerankResponse = z.infer<typeof RerankResponseSchema>;

export const ScoreRequestSchema = z.strictObject({
  model: z.string().nullable().optional(),
  text_1: z.union([z.string(), z.array(z.string()).min(1)]),
  text_2: z.union([z.string(), z.array(z.string()).min(1)]),
  truncate_prompt_tokens: truncatePromptTokens,
  truncate: z.boolean().nullable().optional(),
});
export type ScoreRequest = z.infer<typeof ScoreRequestSchema>;

export const ScoreResponseSchema = z.object({
  id: z.string(),
  object: z.literal('list'),
  created: z.number().int(),
  model: z.string(),
  data: z.array(z.object({ index: z.number().int(), object: z.literal('score'), score: z.number() })),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});
export type ScoreResponse = z.infer<typeof ScoreResponseSchema>;
