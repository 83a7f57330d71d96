// OpenAI's error body ({error: {message, type, param, code}}) and the helpers that build it,
// including turning a zod failure into a message that names the offending parameter.
import { z } from 'zod';

export const ErrorBodySchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.union([z.string(), z.number()]).nullable(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** The error types this project answers with, by HTTP status. */
export const ERROR_TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'server_error',
  501: 'not_implemented_error',
  502: 'server_error',
  503: 'service_unavailable_error',
};

export function errorBody(
  message: string,
  opts: {
    status?: number;
    type?: string;
    param?: string | null;
    code?: string | number | null;
  } = {},
): ErrorBody {
  const type = opts.type ?? ERROR_TYPE_BY_STATUS[opts.status ?? 400] ?? 'server_error';
  return { error: { message, type, param: opts.param ?? null, code: opts.code ?? null } };
}

/** One readable sentence for a zod failure, and the parameter it concerns. */
export function describeZodError(err: z.ZodError): { message: string; param: string | null } {
  const parts: string[] = [];
  let param: string | null = null;
  for (const issue of err.issues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
      param ??= keys[0] ?? null;
      parts.push(
        `unknown parameter${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}: remove ${keys.length > 1 ? 'them' : 'it'}`,
      );
    } else {
      param ??= path || null;
      parts.push(path ? `'${path}': ${issue.message}` : issue.message);
    }
  }
  return { message: parts.join('; '), param };
}

/** The refusal every API answers for a body that is not a JSON object. */
export const BODY_NOT_OBJECT = 'the request body must be a JSON object (send Content-Type: application/json)';

/**
 * Checks a request body against its schema: the parsed value, or the sentence and parameter a 400
 * answers with. Each server wraps the refusal in its own error type.
 */
export function checkRequestBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
): { ok: true; data: z.output<S> } | { ok: false; message: string; param: string | null } {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body))
    return { ok: false, message: BODY_NOT_OBJECT, param: null };
  const parsed = schema.safeParse(body);
  if (parsed.success) return { ok: true, data: parsed.data };
  return { ok: false, ...describeZodError(parsed.error) };
}
