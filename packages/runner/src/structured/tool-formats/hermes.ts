// Hermes-style tool calls (Qwen2.5, Qwen3, Hermes): <tool_call>{"name": ..., "arguments": {...}}</tool_call>
// blocks, any number, after optional plain text.
import {
  parseJson,
  partialMarkerLength,
  toolCallOf,
  type ToolCallFormat,
  type ToolCallSplit,
} from './tool-call-format.ts';

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

export const hermesFormat: ToolCallFormat = {
  split(text: string, final: boolean): ToolCallSplit {
    const out: ToolCallSplit = { content: '', calls: [] };
    let pos = 0;
    for (;;) {
      const open = text.indexOf(OPEN, pos);
      if (open < 0) {
        const rest = text.slice(pos);
        out.content += final ? rest : rest.slice(0, rest.length - partialMarkerLength(rest, OPEN));
        return out;
      }
      out.content += text.slice(pos, open);
      const close = text.indexOf(CLOSE, open + OPEN.length);
      if (close < 0) {
        // The output ended inside a block: a whole call without its closing tag still counts.
        if (final) {
          const call = toolCallOf(parseJson(text.slice(open + OPEN.length).trim()));
          if (call) out.calls.push(call);
          else out.content += text.slice(open);
        }
        return out;
      }
      const call = toolCallOf(parseJson(text.slice(open + OPEN.length, close).trim()));
      if (call) out.calls.push(call);
      else out.content += text.slice(open, close + CLOSE.length);
      pos = close + CLOSE.length;
    }
  },
};
