// How a model family writes tool calls in its text, and the helpers its parsers share: a parser
// splits the text so far into plain content and complete tool calls, holding back (while more text
// may come) whatever could still turn into a call. A block that cannot be a call is content.

export interface ParsedToolCall {
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
}

export interface ToolCallSplit {
  content: string;
  calls: ParsedToolCall[];
}

export interface ToolCallFormat {
  /**
   * `final`: the output has ended, nothing is held back. Content only grows as text is added, so a
   * stream can send the difference.
   */
  split(text: string, final: boolean): ToolCallSplit;
}

/** A JSON call object as the families write it: {name, arguments | parameters}; null when it is not one. */
export function toolCallOf(value: unknown): ParsedToolCall | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || v.name === '') return null;
  const args = v.arguments ?? v.parameters ?? {};
  if (typeof args === 'string') {
    try {
      JSON.parse(args);
    } catch {
      return null;
    }
    return { name: v.name, arguments: args };
  }
  if (typeof args !== 'object' || args === null) return null;
  return { name: v.name, arguments: JSON.stringify(args) };
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The end (exclusive) of the JSON object or array that starts at text[start], or -1 when the text
 * ends before it closes. Strings and their escapes are skipped, so braces inside them do not count.
 */
export function jsonValueEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** The longest end of `text` that is a proper prefix of `marker` (text to hold back while streaming). */
export function partialMarkerLength(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--)
    if (marker.startsWith(text.slice(text.length - n))) return n;
  return 0;
}
