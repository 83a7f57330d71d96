// Folds a stream of chunks into the non-streaming response body, for chat and for completions.
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatTokenLogprob,
  Completion,
  ToolCall,
  CompletionChunk,
  CompletionLogprobs,
  PromptLogprobs,
  Usage,
} from '@pagoda/protocol';

/** What a chunk's choice carries whatever the endpoint: its index and, on the last one, how it ended. */
interface ChunkChoice<F> {
  index: number;
  finish_reason?: F | null;
  stop_reason?: string | number | null;
}

interface Chunk<C> {
  id: string;
  created: number;
  model: string;
  usage?: Usage | null;
  choices: readonly C[];
}

/** One choice so far: what its deltas folded into, and how it ended. */
interface FoldedChoice<B, F> {
  index: number;
  body: B;
  finish: F | null;
  stopReason: string | number | null;
}

/**
 * The part both endpoints share: the latest id / created / model / usage, and one accumulator per
 * choice index into which `fold` merges each delta. The endpoint decides what the body holds.
 */
class ChunkFolder<C extends ChunkChoice<F>, B, F> {
  id = '';
  created = 0;
  model = '';
  usage: Usage | null = null;
  private readonly choices = new Map<number, FoldedChoice<B, F>>();

  constructor(
    private readonly empty: () => B,
    private readonly fold: (body: B, choice: C) => void,
  ) {}

  add(chunk: Chunk<C>): void {
    this.id = chunk.id;
    this.created = chunk.created;
    this.model = chunk.model;
    if (chunk.usage) this.usage = chunk.usage;
    for (const c of chunk.choices) {
      let acc = this.choices.get(c.index);
      if (!acc) {
        acc = { index: c.index, body: this.empty(), finish: null, stopReason: null };
        this.choices.set(c.index, acc);
      }
      this.fold(acc.body, c);
      if (c.finish_reason) acc.finish = c.finish_reason;
      if (c.stop_reason != null) acc.stopReason = c.stop_reason;
    }
  }

  /** The choices in index order. */
  folded(): Array<FoldedChoice<B, F>> {
    return [...this.choices.values()].sort((a, b) => a.index - b.index);
  }
}

type ChatFinish = ChatCompletion['choices'][number]['finish_reason'];
type CompletionFinish = Completion['choices'][number]['finish_reason'];

interface FoldedMessage {
  content: string;
  reasoning: string | null;
  toolCalls: ToolCall[];
  logprobs: ChatTokenLogprob[] | null;
  tokenIds: number[] | null;
}

export class ChatAggregator {
  private promptLogprobs: PromptLogprobs | null = null;
  private promptTokenIds: number[] | null = null;
  private readonly folder = new ChunkFolder<
    ChatCompletionChunk['choices'][number],
    FoldedMessage,
    ChatFinish
  >(
    () => ({ content: '', reasoning: null, toolCalls: [], logprobs: null, tokenIds: null }),
    (acc, c) => {
      if (c.token_ids) (acc.tokenIds ??= []).push(...c.token_ids);
      acc.content += c.delta.content ?? '';
      // an upstream may send only vLLM's newer name
      const thinking = c.delta.reasoning_content ?? c.delta.reasoning;
      if (thinking) acc.reasoning = (acc.reasoning ?? '') + thinking;
      // Tool-call deltas as the openai client folds them: the first of an index opens the call.
      for (const d of c.delta.tool_calls ?? []) {
        const call = (acc.toolCalls[d.index] ??= {
          id: d.id ?? '',
          type: 'function',
          function: { name: '', arguments: '' },
        });
        if (d.id) call.id = d.id;
        call.function.name += d.function?.name ?? '';
        call.function.arguments += d.function?.arguments ?? '';
      }
      if (c.logprobs?.content) acc.logprobs = [...(acc.logprobs ?? []), ...c.logprobs.content];
    },
  );

  add(chunk: ChatCompletionChunk): void {
    if (chunk.prompt_logprobs) this.promptLogprobs = chunk.prompt_logprobs;
    if (chunk.prompt_token_ids) this.promptTokenIds = chunk.prompt_token_ids;
    this.folder.add(chunk);
  }

  result(): ChatCompletion {
    const f = this.folder;
    return {
      id: f.id,
      object: 'chat.completion',
      created: f.created,
      model: f.model,
      choices: f.folded().map(({ index, body, finish, stopReason }) => ({
        index,
        message: {
          role: 'assistant' as const,
          // a reply that is only tool calls has no content, as OpenAI answers it
          content: body.toolCalls.length > 0 && body.content.trim() === '' ? null : body.content,
          ...(body.reasoning !== null ? { reasoning_content: body.reasoning, reasoning: body.reasoning } : {}),
          ...(body.toolCalls.length > 0 ? { tool_calls: body.toolCalls } : {}),
        },
        logprobs: body.logprobs ? { content: body.logprobs } : null,
        finish_reason: finish,
        stop_reason: stopReason,
        ...(body.tokenIds ? { token_ids: body.tokenIds } : {}),
      })),
      usage: f.usage,
      ...(this.promptLogprobs ? { prompt_logprobs: this.promptLogprobs } : {}),
      ...(this.promptTokenIds ? { prompt_token_ids: this.promptTokenIds } : {}),
    };
  }
}

export class CompletionAggregator {
  private readonly folder = new ChunkFolder<
    CompletionChunk['choices'][number],
    {
      text: string;
      logprobs: CompletionLogprobs | null;
      promptLogprobs: PromptLogprobs | null;
      promptTokenIds: number[] | null;
      tokenIds: number[] | null;
    },
    CompletionFinish
  >(
    () => ({ text: '', logprobs: null, promptLogprobs: null, promptTokenIds: null, tokenIds: null }),
    (acc, c) => {
      acc.text += c.text;
      if (c.prompt_logprobs) acc.promptLogprobs = c.prompt_logprobs;
      if (c.prompt_token_ids) acc.promptTokenIds = c.prompt_token_ids;
      if (c.token_ids) (acc.tokenIds ??= []).push(...c.token_ids);
      if (c.logprobs) {
        const lp = (acc.logprobs ??= {
          tokens: [],
          token_logprobs: [],
          top_logprobs: [],
          text_offset: [],
        });
        lp.tokens.push(...c.logprobs.tokens);
        lp.token_logprobs.push(...c.logprobs.token_logprobs);
        lp.top_logprobs.push(...c.logprobs.top_logprobs);
        lp.text_offset.push(...c.logprobs.text_offset);
      }
    },
  );

  add(chunk: CompletionChunk): void {
    this.folder.add(chunk);
  }

  result(): Completion {
    const f = this.folder;
    return {
      id: f.id,
      object: 'text_completion',
      created: f.created,
      model: f.model,
      choices: f.folded().map(({ index, body, finish, stopReason }) => ({
        index,
        text: body.text,
        logprobs: body.logprobs,
        finish_reason: finish,
        stop_reason: stopReason,
        ...(body.promptLogprobs ? { prompt_logprobs: body.promptLogprobs } : {}),
        ...(body.promptTokenIds ? { prompt_token_ids: body.promptTokenIds } : {}),
        ...(body.tokenIds ? { token_ids: body.tokenIds } : {}),
      })),
      usage: f.usage,
    };
  }
}
