// Splits a reasoning model's output into reasoning_content and content, as vLLM's reasoning parsers:
// deepseek_r1 (the output starts inside <think>, an opening tag is optional; everything before
// </think> is reasoning, all of it when </think> never comes) and qwen3 (reasoning only when the
// output opens with <think>). Works on deltas, holding back text that may be the start of a tag.
import { partialMarkerLength } from './tool-formats/tool-call-format.ts';

export type ReasoningParserName = 'qwen3' | 'deepseek_r1';

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ReasoningPart {
  reasoning: string;
  content: string;
}

export class ReasoningStream {
  private state: 'start' | 'reasoning' | 'content' = 'start';
  private held = '';

  constructor(private readonly parser: ReasoningParserName) {}

  push(text: string): ReasoningPart {
    const out: ReasoningPart = { reasoning: '', content: '' };
    let buf = this.held + text;
    this.held = '';
    if (this.state === 'start') {
      const trimmed = buf.trimStart();
      if (trimmed.startsWith(OPEN)) {
        this.state = 'reasoning';
        buf = trimmed.slice(OPEN.length);
      } else if (OPEN.startsWith(trimmed)) {
        this.held = buf; // nothing but (part of) the opening tag yet
        return out;
      } else {
        this.state = this.parser === 'deepseek_r1' ? 'reasoning' : 'content';
      }
    }
    if (this.state === 'reasoning') {
      const close = buf.indexOf(CLOSE);
      if (close < 0) {
        const keep = partialMarkerLength(buf, CLOSE);
        out.reasoning = buf.slice(0, buf.length - keep);
        this.held = buf.slice(buf.length - keep);
        return out;
      }
      out.reasoning = buf.slice(0, close);
      buf = buf.slice(close + CLOSE.length);
      this.state = 'content';
    }
    out.content += buf;
    return out;
  }

  /** The output ended: what was held back, as what it turned out to be. */
  finish(): ReasoningPart {
    const held = this.held;
    this.held = '';
    if (this.state === 'content' || (this.state === 'start' && this.parser === 'qwen3'))
      return { reasoning: '', content: held };
    return { reasoning: held, content: '' };
  }
}

/** The whole output at once: the same rules as the stream. */
export function splitReasoning(parser: ReasoningParserName, text: string): ReasoningPart {
  const s = new ReasoningStream(parser);
  const a = s.push(text);
  const b = s.finish();
  return { reasoning: a.reasoning + b.reasoning, content: a.content + b.content };
}
