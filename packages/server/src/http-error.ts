// One error type for routes: status, message, the parameter at fault, a stable code (ERROR_CODES in
// @pagoda/protocol) and extra fields (a refused plan) — rendered in the OpenAI error shape every
// client of this server already parses.
import type { Response } from 'express';
import type { z } from 'zod';
import { checkRequestBody, defaultErrorCode, errorBody, type ErrorCode, type ErrorDetails } from '@pagoda/protocol';

export class HttpError extends Error {
  readonly code: ErrorCode;
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly extra: Record<string, unknown> = {},
    code?: ErrorCode,
    /** The values the message names (ERROR_PARAMS), or a validation failure's issues: clients word errors from these. */
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.code = code ?? defaultErrorCode(status);
  }
}

/** Parses `body` with `schema` or throws 400 naming the field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const checked = checkRequestBody(schema, body);
  if (!checked.ok)
    throw new HttpError(400, checked.message, checked.param, {}, checked.code, {
      issues: checked.issues,
      params: checked.param === null ? {} : { field: checked.param },
    });
  return checked.data;
}

/** The OpenAI error shape, plus `detail` (the same message) where Xinference's client reads it. */
export function sendError(res: Response, err: HttpError): void {
  res.status(err.status).json({ ...errorBody(err.message, { status: err.status, param: err.param, code: err.code, ...withField(err) }), detail: err.message, ...err.extra });
}

/** The error's details, with `field` (the param) filled in when the thrower named a param and no field. */
function withField(err: HttpError): ErrorDetails {
  const params = { ...err.details.params };
  if (err.param !== null && params.field === undefined) params.field = err.param;
  return { ...err.details, params };
}
