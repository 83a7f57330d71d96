// Llama 3.1 / 3.2 JSON tool calls: the whole output is {"name": ..., "parameters": {...}} (optionally
// after <|python_tag|>), several separated by ";". An output that does not start with "{" is content.
import {
  jsonValueEnd,
  parseJson,
  toolCallOf,
  type ToolCallFormat,
  type ToolCallSplit,
} from './tool-call-format.ts';

const PYTHON_TAG = '<|python_tag|>';

export const llama3JsonFormat: ToolCallFormat = {
  split(text: string, final: boolean): ToolCallSplit {
    const out: ToolCallSplit = { content: '', calls: [] };
    const lead = text.length - text.trimStart().length;
    let pos = lead;
    if (text.startsWith(PYTHON_TAG, pos)) pos += PYTHON_TAG.length;
    else if (!final && PYTHON_TAG.startsWith(text.slice(pos)) && pos < text.length) return out;
    if (pos >= text.length) {
      if (final) out.content = text;
      return out;
    }
    if (text[pos] !== '{') {
      out.content = text;
      return out;
    }
    for (;;) {
      while (pos < text.length && /[\s;]/.test(text[pos]!)) pos++;
      if (pos >= text.length) return out;
      const end = text[pos] === '{' ? jsonValueEnd(text, pos) : -2;
      if (end === -1 && !final) return out; // an object still being written
      const call = end > 0 ? toolCallOf(parseJson(text.slice(pos, end))) : null;
      if (!call) {
        out.content += text.slice(pos);
        return out;
      }
      out.calls.push(call);
      pos = end;
    }
  },
};
