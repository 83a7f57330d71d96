// POST /v1/completions.
import {
  CompletionRequestSchema,
  type CompletionChunk,
  type CompletionRequest,
} from '@pagoda/protocol';
import { CompletionAggregator } from '../aggregate.ts';
import type { RunnerContext } from '../runner-context.ts';
import { generationHandler, type GenerationKind } from './generation.ts';

/** How many prompts a completion request carries (a string, a token list, or a list of either). */
export function promptCount(prompt: CompletionRequest['prompt']): number {
  if (typeof prompt === 'string') return 1;
  return typeof prompt[0] === 'number' ? 1 : prompt.length;
}

const completionKind: GenerationKind<CompletionRequest, CompletionChunk> = {
  schema: CompletionRequestSchema,
  idPrefix: 'cmpl-',
  sequences: (req) => (req.n ?? 1) * promptCount(req.prompt),
  start: (ctx, req, gen) => ctx.backend.completions(req, gen),
  hasTokens: (chunk) =>
    chunk.choices.some((c) => c.text !== '' || (c.logprobs?.tokens.length ?? 0) > 0),
  aggregator: () => new CompletionAggregator(),
};

export const completionsHandler = (ctx: RunnerContext) => generationHandler(ctx, completionKind);
