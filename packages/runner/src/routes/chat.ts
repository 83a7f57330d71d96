// POST /v1/chat/completions.
import {
  ChatCompletionRequestSchema,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
} from '@pagoda/protocol';
import { ChatAggregator } from '../aggregate.ts';
import type { RunnerContext } from '../runner-context.ts';
import { generationHandler, type GenerationKind } from './generation.ts';

const chatKind: GenerationKind<ChatCompletionRequest, ChatCompletionChunk> = {
  schema: ChatCompletionRequestSchema,
  idPrefix: 'chatcmpl-',
  sequences: (req) => req.n ?? 1,
  start: (ctx, req, gen) => ctx.backend.chat(req, gen),
  hasTokens: (chunk) =>
    chunk.choices.some(
      (c) =>
        (c.delta.content ?? '') !== '' ||
        (c.delta.reasoning_content ?? c.delta.reasoning ?? '') !== '' ||
        (c.delta.tool_calls?.length ?? 0) > 0 ||
        (c.logprobs?.content?.length ?? 0) > 0,
    ),
  aggregator: () => new ChatAggregator(),
};

export const chatCompletionsHandler = (ctx: RunnerContext) => generationHandler(ctx, chatKind);
