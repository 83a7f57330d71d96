// POST /v1/responses: the Responses API over the backend's chat, answered whole or as typed events.
import {
  ResponsesRequestSchema,
  type ChatCompletionChunk,
  type ResponsesRequest,
} from '@pagoda/protocol';
import { ApiError } from '../api-error.ts';
import type { GenerateContext } from '../backend.ts';
import type { RunnerContext } from '../runner-context.ts';
import { ResponseAssembler } from '../responses/response-assembler.ts';
import { chatRequestOf } from '../responses/to-chat.ts';
import { generationHandler, type GenerationKind } from './generation.ts';

const assembler = (req: ResponsesRequest, gen: GenerateContext) =>
  new ResponseAssembler(req, gen.requestId, gen.model);

const responsesKind: GenerationKind<ResponsesRequest, ChatCompletionChunk> = {
  schema: ResponsesRequestSchema,
  idPrefix: 'resp_',
  sequences: () => 1,
  start: (ctx, req, gen) => inResponsesTerms(ctx.backend.chat(chatRequestOf(req), gen)),
  hasTokens: (chunk) =>
    chunk.choices.some(
      (c) =>
        (c.delta.content ?? '') !== '' ||
        (c.delta.reasoning_content ?? '') !== '' ||
        (c.delta.tool_calls?.length ?? 0) > 0,
    ),
  aggregator: (req, gen) => {
    const a = assembler(req, gen);
    return {
      add: (chunk: ChatCompletionChunk) => void a.add(chunk),
      result: () => (a.finish(), a.result()),
    };
  },
  events: assembler,
};

/** The chat fields a refusal names, as this request called them. */
const FIELDS: Record<string, string> = {
  max_tokens: 'max_output_tokens',
  messages: 'input',
  response_format: 'text.format',
};

/** The chat's chunks, with a refusal's parameter renamed to the Responses field it came from. */
async function* inResponsesTerms(chunks: AsyncIterable<ChatCompletionChunk>): AsyncGenerator<ChatCompletionChunk> {
  try {
    yield* chunks;
  } catch (err) {
    if (err instanceof ApiError && err.param !== null && err.param.split('.')[0]! in FIELDS) {
      const [head, ...rest] = err.param.split('.');
      const param = [FIELDS[head!]!, ...rest].join('.');
      throw new ApiError(err.status, err.message, param, err.type, err.code, err.details);
    }
    throw err;
  }
}

export const responsesHandler = (ctx: RunnerContext) => generationHandler(ctx, responsesKind);
