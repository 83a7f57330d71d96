// Folds a stream of chunks into the non-streaming response body, for chat and for completions.
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatTokenLogprob,
  Completion,
  CompletionChunk,
  CompletionLogprobs,
  Usage,
} from '@pagoda/protocol';

export class ChatAggregator {
  private id = '';
  private created = 0;
  private model = '';
  private usage: Usage | null = null;
  private readonly choices = new Map<
    number,
    {
      content: string;
      logprobs: ChatTokenLogprob[] | null;
      finish: ChatCompletion['choices'][number]['finish_reason'];
      stopReason: string | number | null;
    }
  >();

  add(chunk: ChatCompletionChunk): void {
    this.id = chunk.id;
    this.created = chunk.created;
    this.model = chunk.model;
    if (chunk.usage) this.usage = chunk.usage;
    for (const c of chunk.choices) {
      let acc = this.choices.get(c.index);
      if (!acc) {
        acc = { content: '', logprobs: null, finish: null, stopReason: null };
        this.choices.set(c.index, acc);
      }
      acc.content += c.delta.content ?? '';
      if (c.logprobs?.content) acc.logprobs = [...(acc.logprobs ?? []), ...c.logprobs.content];
      if (c.finish_reason) acc.finish = c.finish_reason;
      if (c.stop_reason != null) acc.stopReason = c.stop_reason;
    }
  }

  result(): ChatCompletion {
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [...this.choices.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, c]) => ({
          index,
          message: { role: 'assistant' as const, content: c.content },
          logprobs: c.logprobs ? { content: c.logprobs } : null,
          finish_reason: c.finish,
          stop_reason: c.stopReason,
        })),
      usage: this.usage,
    };
  }
}

export class CompletionAggregator {
  private id = '';
  private created = 0;
  private model = '';
  private usage: Usage | null = null;
  private readonly choices = new Map<
    number,
    {
      text: string;
      logprobs: CompletionLogprobs | null;
      finish: Completion['choices'][number]['finish_reason'];
      stopReason: string | number | null;
    }
  >();

  add(chunk: CompletionChunk): void {
    this.id = chunk.id;
    this.created = chunk.created;
    this.model = chunk.model;
    if (chunk.usage) this.usage = chunk.usage;
    for (const c of chunk.choices) {
      let acc = this.choices.get(c.index);
      if (!acc) {
        acc = { text: '', logprobs: null, finish: null, stopReason: null };
        this.choices.set(c.index, acc);
      }
      acc.text += c.text;
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
      if (c.finish_reason) acc.finish = c.finish_reason;
      if (c.stop_reason != null) acc.stopReason = c.stop_reason;
    }
  }

  result(): Completion {
    return {
      id: this.id,
      object: 'text_completion',
      created: this.created,
      model: this.model,
      choices: [...this.choices.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, c]) => ({
          index,
          text: c.text,
          logprobs: c.logprobs,
          finish_reason: c.finish,
          stop_reason: c.stopReason,
        })),
      usage: this.usage,
    };
  }
}
