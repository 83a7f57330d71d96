// Mistral tool calls: [TOOL_CALLS] then a JSON array of {"name", "arguments"} (v0.3), or then
// name[ARGS]{...} per call (newer tokenizers), after optional plain text.
import {
  jsonValueEnd,
  parseJson,
  partialMarkerLength,
  toolCallOf,
  type ParsedToolCall,
  type ToolCallFormat,
  type ToolCallSplit,
} from './tool-call-format.ts';

const MARKER = '[TOOL_CALLS]';
const ARGS = '[ARGS]';

export const mistralFormat: ToolCallFormat = {
  split(text: string, final: boolean): ToolCallSplit {
    const out: ToolCallSplit = { content: '', calls: [] };
    const at = text.indexOf(MARKER);
    if (at < 0) {
      out.content = final ? text : text.slice(0, text.length - partialMarkerLength(text, MARKER));
      return out;
    }
    out.content = text.slice(0, at);
    let pos = at + MARKER.length;
    for (;;) {
      while (pos < text.length && /\s/.test(text[pos]!)) pos++;
      if (pos >= text.length) return out;
      if (text.startsWith(MARKER, pos)) {
        pos += MARKER.length;
        continue;
      }
      const parsed = text[pos] === '[' ? arrayCalls(text, pos) : namedCall(text, pos);
      if (parsed === 'incomplete') {
        if (final) out.content += text.slice(pos);
        return out;
      }
      if (parsed === null) {
        out.content += text.slice(pos);
        return out;
      }
      out.calls.push(...parsed.calls);
      pos = parsed.end;
    }
  },
};

type Parsed = { calls: ParsedToolCall[]; end: number } | null | 'incomplete';

function arrayCalls(text: string, pos: number): Parsed {
  const end = jsonValueEnd(text, pos);
  if (end < 0) return 'incomplete';
  const list = parseJson(text.slice(pos, end));
  if (!Array.isArray(list)) return null;
  const calls = list.map(toolCallOf);
  if (calls.some((c) => c === null)) return null;
  return { calls: calls as ParsedToolCall[], end };
}

function namedCall(text: string, pos: number): Parsed {
  const args = text.indexOf(ARGS, pos);
  if (args < 0) {
    // a name, maybe followed by the start of [ARGS]: the rest is still coming
    const m = /^[\w.-]*(\[.*)?$/.exec(text.slice(pos));
    return m && ARGS.startsWith(m[1] ?? '') ? 'incomplete' : null;
  }
  const name = text.slice(pos, args).trim();
  const start = args + ARGS.length;
  if (!/^[\w.-]+$/.test(name)) return null;
  if (start >= text.length) return 'incomplete';
  const end = jsonValueEnd(text, start);
  if (end < 0) return 'incomplete';
  const call = toolCallOf({ name, arguments: parseJson(text.slice(start, end)) });
  return call ? { calls: [call], end } : null;
}
