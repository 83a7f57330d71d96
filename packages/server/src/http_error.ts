// One error type for routes: status, message, the parameter at fault, a stable code (ERROR_CODES in
// @pagoda/protocol) and extra fields (a refused plan) — rendered in the OpenAI error shape every
// client of this server already parses.
import type { Response } from 'express';
import { z } from 'zod';
import { defaultErrorCode, describeZodError, errorBody, type ErrorCode } from '@pagoda/protocol';

export class HttpError extends Error {
  readonly code: ErrorCode;
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly extra: Record<string, unknown> = {},
    code?: ErrorCode,
  ) {
    super(message);
    this.code = code ?? defaultErrorCode(status);
  }
}

/** Parses `body` with `schema` or throws 400 naming the field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object (send Content-Type: application/json)');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const { message, param, code } = describeZodError(parsed.error);
    throw new HttpError(400, message, param, {}, code);
  }
  return parsed.data;
}

/** The OpenAI error shape, plus `detail` (the same message) where Xinference's client reads it. */
export function sendError(res: Response, err: HttpError): void {
  res.status(err.status).json({ ...errorBody(err.message, { status: err.status, param: err.param, code: err.code }), detail: err.message, ...err.extra });
}
