// Reads the one field the proxy routes by, "model", from a request body's bytes without building the
// rest of the body: one pass with a depth counter (no recursion), so no nesting can overflow the stack.
// The runner validates the whole body; this only needs to find the top-level "model" string.
import { HttpError } from './http_error.ts';

/** Deeper nesting than this is refused: no OpenAI request needs it, and it only costs the runner. */
export const MAX_BODY_DEPTH = 256;

const MODEL_MISSING = "the body needs 'model': the uid of a launched model (GET /v1/models lists them)";

function bad(message: string, param: string | null = null): HttpError {
  return new HttpError(400, `invalid JSON body: ${message}`, param);
}

function skipSpace(text: string, at: number): number {
  while (at < text.length) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    at += 1;
  }
  return at;
}

/** The index just past the string that opens at `at` (a '"'). */
function stringEnd(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i += 1; // backslash: the next character is escaped
    else if (c === 0x22) return i + 1;
  }
  throw bad('a string is not closed');
}

/** The index just past the value that starts at `at`; objects and arrays are skipped with a depth counter. */
function valueEnd(text: string, at: number, depth: number): number {
  const first = text[at];
  if (first === '"') return stringEnd(text, at);
  if (first === '{' || first === '[') {
    let level = 0;
    for (let i = at; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = stringEnd(text, i) - 1;
      else if (c === '{' || c === '[') {
        level += 1;
        if (depth + level > MAX_BODY_DEPTH) throw bad(`nested deeper than ${MAX_BODY_DEPTH} levels`);
      } else if (c === '}' || c === ']') {
        level -= 1;
        if (level === 0) return i + 1;
      }
    }
    throw bad('an object or array is not closed');
  }
  let i = at;
  while (i < text.length && !',}] \n\r\t'.includes(text[i]!)) i += 1;
  if (i === at) throw bad(`a value is missing at offset ${at}`);
  return i;
}

/**
 * The top-level "model" string of a JSON object body (the last one if repeated, as JSON.parse keeps);
 * a 400 HttpError when the body is not a JSON object, nests too deep, or has no usable "model".
 */
export function readModelField(body: Buffer): string {
  const text = body.toString('utf8');
  let at = skipSpace(text, 0);
  if (text[at] !== '{') throw new HttpError(400, 'the request body must be a JSON object (send Content-Type: application/json)');
  let model: unknown = undefined;
  at = skipSpace(text, at + 1);
  if (text[at] === '}') at += 1;
  else {
    for (;;) {
      if (text[at] !== '"') throw bad(`expected a property name at offset ${at}`);
      const keyEnd = stringEnd(text, at);
      const key = parseJson(text.slice(at, keyEnd));
      at = skipSpace(text, keyEnd);
      if (text[at] !== ':') throw bad(`expected ':' at offset ${at}`);
      at = skipSpace(text, at + 1);
      const end = valueEnd(text, at, 1);
      if (key === 'model') model = parseJson(text.slice(at, end));
      at = skipSpace(text, end);
      if (text[at] === ',') {
        at = skipSpace(text, at + 1);
        continue;
      }
      if (text[at] === '}') {
        at += 1;
        break;
      }
      throw bad(`expected ',' or '}' at offset ${at}`);
    }
  }
  if (skipSpace(text, at) !== text.length) throw bad(`unexpected text after the object at offset ${at}`);
  if (typeof model !== 'string' || model === '') throw new HttpError(400, MODEL_MISSING, 'model');
  return model;
}

/** JSON.parse of one short token (a key or the model value); its failure is the client's 400. */
function parseJson(token: string): unknown {
  try {
    return JSON.parse(token);
  } catch (err) {
    throw bad((err as Error).message);
  }
}
