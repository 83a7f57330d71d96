// One chat output's text as OpenAI message parts, delta by delta: reasoning_content (with a
// --reasoning-parser), content, and tool_calls (parsed from free text for tool_choice "auto", or read
// from the grammar-forced JSON for "required" / a named function), each call sent once it is whole.
import { randomUUID } from 'node:crypto';
import type { ToolCallDelta } from '@pagoda/protocol';
import { ReasoningStream, type ReasoningParserName } from './reasoning-stream.ts';
import type { ToolMode } from './tool-choice.ts';
import { toolCallOf, type ParsedToolCall } from './tool-formats/tool-call-format.ts';

export interface ChatDeltaParts {
  content: string;
  reasoning: string;
  toolCalls: ToolCallDelta[];
}

export const toolCallId = (): string => `chatcmpl-tool-${randomUUID().replace(/-/g, '')}`;

export class ChatOutput {
  private readonly reasoning: ReasoningStream | null;
  private text = ''; // what reached the tool stage (content after reasoning)
  private sentContent = 0;
  private sentCalls = 0;

  constructor(
    private readonly tools: ToolMode,
    reasoningParser: ReasoningParserName | null,
  ) {
    this.reasoning = reasoningParser ? new ReasoningStream(reasoningParser) : null;
  }

  /** Whether any tool call was sent (the finish reason is then "tool_calls"). */
  get calledTools(): boolean {
    return this.sentCalls > 0;
  }

  push(delta: string): ChatDeltaParts {
    const r = this.reasoning ? this.reasoning.push(delta) : { reasoning: '', content: delta };
    return this.advance(r.reasoning, r.content, false);
  }

  finish(): ChatDeltaParts {
    const r = this.reasoning ? this.reasoning.finish() : { reasoning: '', content: '' };
    return this.advance(r.reasoning, r.content, true);
  }

  private advance(reasoning: string, content: string, final: boolean): ChatDeltaParts {
    this.text += content;
    const out: ChatDeltaParts = { content: '', reasoning, toolCalls: [] };
    const { text, calls } = this.split(final);
    out.content = text.slice(this.sentContent);
    this.sentContent = text.length;
    for (const call of calls.slice(this.sentCalls)) {
      out.toolCalls.push({
        index: this.sentCalls++,
        id: toolCallId(),
        type: 'function',
        function: { name: call.name, arguments: call.arguments },
      });
    }
    return out;
  }

  private split(final: boolean): { text: string; calls: ParsedToolCall[] } {
    const t = this.tools;
    if (t.kind === 'none') return { text: this.text, calls: [] };
    if (t.kind === 'auto') {
      const s = t.format.split(this.text, final);
      return { text: s.content, calls: s.calls };
    }
    if (!final) return { text: '', calls: [] }; // forced JSON: read whole at the end
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.text);
    } catch {
      return { text: this.text, calls: [] }; // cut short (length): the raw text, as content
    }
    if (t.kind === 'named')
      return { text: '', calls: [{ name: t.name, arguments: JSON.stringify(parsed) }] };
    const calls = Array.isArray(parsed) ? parsed.map(toolCallOf) : [];
    if (calls.length === 0 || calls.some((c) => c === null)) return { text: this.text, calls: [] };
    return { text: '', calls: calls as ParsedToolCall[] };
  }
}
