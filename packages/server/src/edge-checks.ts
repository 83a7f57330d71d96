// Checks at the edge, before a route or the database sees a request: ids in the path must be
// well-formed, and no string anywhere in the request may hold a NUL byte (PostgreSQL refuses them in
// text and JSON, and no name, path or setting needs one).
import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { clip } from '@pagoda/protocol';
import { HttpError } from './http-error.ts';

/** Path parameter `name` checked against `schema`; a malformed one is a 400 naming `param`. */
export function idParam(req: Request, name: string, schema: z.ZodType<string>, param: string, what: string): string {
  const value = String(req.params[name]);
  const checked = schema.safeParse(value);
  if (!checked.success) {
    const why = checked.error.issues[0]?.message ?? 'is malformed';
    throw new HttpError(400, `'${clip(JSON.stringify(value).slice(1, -1))}' is not a valid ${what}: ${why}`, param, {}, 'invalid_id', { params: { value: String(value), field: param } });
  }
  return checked.data;
}

/** The JSON path of the first string (value or key) in `value` holding a NUL byte; walked without recursion. */
export function findNulByte(value: unknown): string | null {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) return path || 'body';
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i], `${path}[${i}]`]);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        const at = path ? `${path}.${clip(k, 40)}` : clip(k, 40);
        if (k.includes('\0')) return at;
        stack.push([child, at]);
      }
    }
  }
  return null;
}

/** Middleware: 400 when the path, the query or the parsed body holds a NUL byte. */
export function rejectNulBytes(req: Request, _res: Response, next: NextFunction): void {
  if (/%00|\0/i.test(req.originalUrl)) throw new HttpError(400, 'the request path or query holds a NUL byte (%00); remove it', null, {}, 'nul_byte');
  const at = findNulByte(req.body);
  if (at !== null) throw new HttpError(400, `'${at}' holds a NUL byte; remove it`, at === 'body' ? null : at, {}, 'nul_byte');
  next();
}
