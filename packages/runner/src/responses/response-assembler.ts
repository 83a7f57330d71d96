// A chat completion's chunks as a Responses API answer: output items (reasoning, message, function
// calls) opened and closed as the deltas come, each step also told as the stream's typed events,
// and the whole response object at the end.
import { randomUUID } from 'node:crypto';
import {
  responseUsage,
  type ChatCompletionChunk,
  type ChatTokenLogprob,
  type ResponseObject,
  type ResponseOutputItem,
  type ResponsesRequest,
} from '@pagoda/protocol';
import { wantsLogprobs } from './to-chat.ts';

export interface ResponseEvent {
  type: string;
  sequence_number: number;
  [key: string]: unknown;
}

type Open =
  | { kind: 'message'; item: Extract<ResponseOutputItem, { type: 'message' }>; index: number }
  | { kind: 'reasoning'; item: Extract<ResponseOutputItem, { type: 'reasoning' }>; index: number }
  | { kind: 'call'; item: Extract<ResponseOutputItem, { type: 'function_call' }>; index: number; chatIndex: number };

const itemId = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '')}`;

export class ResponseAssembler {
  private readonly response: ResponseObject;
  private open: Open | null = null;
  private sequence = 0;

  private readonly logprobs: boolean;

  constructor(req: ResponsesRequest, id: string, model: string) {
    this.logprobs = wantsLogprobs(req);
    this.response = {
      id,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: 'in_progress',
      error: null,
      incomplete_details: null,
      instructions: req.instructions ?? null,
      max_output_tokens: req.max_output_tokens ?? null,
      model,
      output: [],
      parallel_tool_calls: req.parallel_tool_calls ?? true,
      previous_response_id: null,
      reasoning: { effort: req.reasoning?.effort ?? null, summary: null },
      store: false,
      temperature: req.temperature ?? 1,
      text: { format: req.text?.format ?? { type: 'text' } },
      tool_choice: req.tool_choice ?? 'auto',
      tools: req.tools ?? [],
      top_p: req.top_p ?? 1,
      truncation: req.truncation ?? 'disabled',
      usage: null,
      user: req.user ?? null,
      metadata: req.metadata ?? {},
    };
  }

  /** response.created and response.in_progress, before any output. */
  start(): ResponseEvent[] {
    const snapshot = this.snapshot();
    return [this.event('response.created', { response: snapshot }), this.event('response.in_progress', { response: snapshot })];
  }

  /** The events one chat chunk makes: items opened, text and arguments added, items closed. */
  add(chunk: ChatCompletionChunk): ResponseEvent[] {
    const out: ResponseEvent[] = [];
    if (chunk.usage) this.response.usage = responseUsage(chunk.usage);
    for (const choice of chunk.choices) {
      const d = choice.delta;
      const thinking = d.reasoning_content ?? d.reasoning;
      if (thinking) out.push(...this.reasoning(thinking));
      if (d.content) out.push(...this.text(d.content, choice.logprobs?.content ?? null));
      for (const call of d.tool_calls ?? []) out.push(...this.call(call));
      if (choice.finish_reason === 'length') {
        this.response.status = 'incomplete';
        this.response.incomplete_details = { reason: 'max_output_tokens' };
      }
    }
    return out;
  }

  /** Closes what is open and ends with response.completed (or .incomplete) carrying the whole response. */
  finish(): ResponseEvent[] {
    const out = this.close();
    if (this.response.status === 'in_progress') this.response.status = 'completed';
    const type = this.response.status === 'incomplete' ? 'response.incomplete' : 'response.completed';
    out.push(this.event(type, { response: this.snapshot() }));
    return out;
  }

  /** The response object as it stands (the non-streamed answer, once finish() has run). */
  result(): ResponseObject {
    return this.snapshot();
  }

  private reasoning(delta: string): ResponseEvent[] {
    const out = this.open?.kind === 'reasoning' ? [] : this.openItem({ type: 'reasoning', id: itemId('rs'), summary: [], content: [] });
    const open = this.open as Extract<Open, { kind: 'reasoning' }>;
    if (open.item.content.length === 0) open.item.content.push({ type: 'reasoning_text', text: '' });
    open.item.content[0]!.text += delta;
    out.push(this.event('response.reasoning_text.delta', { item_id: open.item.id, output_index: open.index, content_index: 0, delta }));
    return out;
  }

  private text(delta: string, logprobs: ChatTokenLogprob[] | null): ResponseEvent[] {
    const out: ResponseEvent[] = [];
    if (this.open?.kind !== 'message') {
      out.push(...this.openItem({ type: 'message', id: itemId('msg'), status: 'completed', role: 'assistant', content: [] }));
      const open = this.open as unknown as Extract<Open, { kind: 'message' }>;
      const part = { type: 'output_text' as const, text: '', annotations: [], ...(this.logprobs ? { logprobs: [] } : {}) };
      open.item.content.push(part);
      out.push(this.event('response.content_part.added', { item_id: open.item.id, output_index: open.index, content_index: 0, part: structuredClone(part) }));
    }
    const open = this.open as unknown as Extract<Open, { kind: 'message' }>;
    const part = open.item.content[0]!;
    part.text += delta;
    if (logprobs && part.logprobs) part.logprobs.push(...logprobs);
    out.push(this.event('response.output_text.delta', { item_id: open.item.id, output_index: open.index, content_index: 0, delta, logprobs: logprobs ?? [] }));
    return out;
  }

  private call(d: NonNullable<ChatCompletionChunk['choices'][number]['delta']['tool_calls']>[number]): ResponseEvent[] {
    const out: ResponseEvent[] = [];
    if (this.open?.kind !== 'call' || this.open.chatIndex !== d.index) {
      out.push(
        ...this.openItem(
          { type: 'function_call', id: itemId('fc'), call_id: d.id ?? itemId('call'), name: d.function?.name ?? '', arguments: '', status: 'completed' },
          d.index,
        ),
      );
    }
    const open = this.open as unknown as Extract<Open, { kind: 'call' }>;
    if (d.function?.name && open.item.name === '') open.item.name = d.function.name;
    const delta = d.function?.arguments ?? '';
    if (delta) {
      open.item.arguments += delta;
      out.push(this.event('response.function_call_arguments.delta', { item_id: open.item.id, output_index: open.index, delta }));
    }
    return out;
  }

  /** Closes the open item and opens `item` after it (as in progress in the event that announces it). */
  private openItem(item: ResponseOutputItem, chatIndex = 0): ResponseEvent[] {
    const out = this.close();
    const index = this.response.output.length;
    this.response.output.push(item);
    this.open =
      item.type === 'message'
        ? { kind: 'message', item, index }
        : item.type === 'reasoning'
          ? { kind: 'reasoning', item, index }
          : { kind: 'call', item, index, chatIndex };
    out.push(this.event('response.output_item.added', { output_index: index, item: { ...structuredClone(item), status: 'in_progress' } }));
    return out;
  }

  private close(): ResponseEvent[] {
    const open = this.open;
    if (!open) return [];
    this.open = null;
    const out: ResponseEvent[] = [];
    const ids = { item_id: open.item.id, output_index: open.index };
    if (open.kind === 'message') {
      const part = open.item.content[0]!;
      if (this.response.status === 'incomplete') open.item.status = 'incomplete';
      out.push(this.event('response.output_text.done', { ...ids, content_index: 0, text: part.text, logprobs: part.logprobs ?? [] }));
      out.push(this.event('response.content_part.done', { ...ids, content_index: 0, part: structuredClone(part) }));
    } else if (open.kind === 'reasoning') {
      out.push(this.event('response.reasoning_text.done', { ...ids, content_index: 0, text: open.item.content[0]?.text ?? '' }));
    } else {
      out.push(this.event('response.function_call_arguments.done', { ...ids, name: open.item.name, arguments: open.item.arguments }));
    }
    out.push(this.event('response.output_item.done', { output_index: open.index, item: structuredClone(open.item) }));
    return out;
  }

  private event(type: string, body: Record<string, unknown>): ResponseEvent {
    return { type, sequence_number: this.sequence++, ...body };
  }

  private snapshot(): ResponseObject {
    return structuredClone(this.response);
  }
}
