// Validates a request body against its zod schema; a failure is a 400 that names the parameter.
import { describeZodError } from '@pagoda/protocol';
import type { z } from 'zod';
import { ApiError } from '../api-error.ts';

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(
      400,
      'the request body must be a JSON object (send Content-Type: application/json)',
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const { message, param, code } = describeZodError(parsed.error);
    throw new ApiError(400, message, param, undefined, code);
  }
  return parsed.data;
}
