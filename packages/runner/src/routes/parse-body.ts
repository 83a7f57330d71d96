// Validates a request body against its zod schema; a failure is a 400 that names the parameter.
import { checkRequestBody } from '@pagoda/protocol';
import type { z } from 'zod';
import { ApiError } from '../api-error.ts';

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const checked = checkRequestBody(schema, body);
  if (!checked.ok) throw new ApiError(400, checked.message, checked.param, undefined, checked.code, { issues: checked.issues });
  return checked.data;
}
