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

/** The error types this project answers with, by HTTP status (OpenAI's names where it has one). */
export const ERROR_TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  499: 'invalid_request_error',
  500: 'server_error',
  501: 'not_implemented_error',
  502: 'server_error',
  503: 'service_unavailable_error',
};

/**
 * Every `code` the server and the runners put in an error body, with what it means. Codes are stable:
 * clients (the dashboard, scripts) translate and branch on them, never on the message.
 */
export const ERROR_CODES = {
  invalid_request: 'a parameter is missing, of the wrong type or out of range',
  invalid_json: 'the body is not valid JSON',
  unknown_parameter: 'the body has a field this route does not take',
  invalid_id: 'an id in the path or body (model uid, model name, key name, benchmark id) has characters or a length ids cannot have',
  nul_byte: 'a string in the request holds a NUL byte',
  unsupported_content_type: 'the body is not sent as application/json',
  request_too_large: 'the body is larger than the limit',
  missing_api_key: 'the route needs a key and none was sent',
  invalid_api_key: 'the key sent is unknown or revoked',
  permission_denied: 'the key may not do this',
  admin_key_required: 'the route needs an admin key; an inference key was sent',
  model_not_allowed: 'the inference key may not use this model',
  not_found: 'what the request names does not exist',
  route_not_found: 'no route has this method and path',
  model_not_found: 'no model of this uid is launched (or served, at a runner)',
  registration_not_found: 'no model of this name is in the catalog or registered',
  key_not_found: 'no unrevoked key has this name',
  benchmark_not_found: 'no benchmark run has this id',
  already_exists: 'something of this name or uid exists already',
  last_admin_key: 'revoking this key would leave no admin key',
  no_capacity: 'the launch or scale does not fit the cluster now',
  conflict: 'the request conflicts with the current state (e.g. a run in progress)',
  queue_full: 'a runner has too many requests waiting',
  rate_limited: 'the model is at its request_limits',
  client_closed: 'the client went away before the answer',
  model_unavailable: 'the model has no replica that can take requests now',
  upstream_failed: 'a replica or backend failed while answering',
  service_unavailable: 'a service the request needs (Redis, the engine) is unavailable',
  not_implemented: 'the backend does not do this',
  internal_error: 'an unexpected fault; the server log has the detail',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** The code an error of `status` carries when the code that threw it named none. */
export function defaultErrorCode(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'missing_api_key';
    case 403:
      return 'permission_denied';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'request_too_large';
    case 415:
      return 'unsupported_content_type';
    case 429:
      return 'rate_limited';
    case 499:
      return 'client_closed';
    case 501:
      return 'not_implemented';
    case 502:
      return 'upstream_failed';
    case 503:
      return 'service_unavailable';
    default:
      return status >= 500 ? 'internal_error' : 'invalid_request';
  }
}

/** Longest error message sent: a message never carries a multi-megabyte input back whole. */
export const MAX_ERROR_MESSAGE_CHARS = 2_000;

/** A client-given value for an error message: its first `max` characters, and how long it was. */
export function clip(value: string, max = 64): string {
  return value.length <= max ? value : `${value.slice(0, max)}… (${value.length} characters)`;
}

/**
 * `text` with every absolute file path cut to its last part (`/srv/models/x/config.json` → `…/config.json`):
 * for reasons a process reports about itself (a load failure), which answer clients who did not give
 * those paths.
 */
export function redactPaths(text: string): string {
  return text.replace(/(?:file:\/\/)?(?:\/[\w.@+~-]+){2,}\/?/g, (path) => `…/${path.replace(/\/$/, '').split('/').at(-1)}`);
}

export function errorBody(
  message: string,
  opts: {
    status?: number;
    type?: string;
    param?: string | null;
    code?: string | null;
  } = {},
): ErrorBody {
  const status = opts.status ?? 400;
  const type = opts.type ?? ERROR_TYPE_BY_STATUS[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  return {
    error: {
      message: clip(message, MAX_ERROR_MESSAGE_CHARS),
      type,
      param: opts.param == null ? null : clip(opts.param, 200),
      code: opts.code ?? defaultErrorCode(status),
    },
  };
}

/** One readable sentence for a zod failure (its first few issues), the parameter and the code. */
export function describeZodError(err: z.ZodError): { message: string; param: string | null; code: ErrorCode } {
  const parts: string[] = [];
  let param: string | null = null;
  let code: ErrorCode | null = null;
  const shown = err.issues.slice(0, 5);
  for (const issue of shown) {
    const path = clip(issue.path.map(String).join('.'), 200);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.slice(0, 5).map((k) => clip(path ? `${path}.${k}` : k));
      param ??= keys[0] ?? null;
      code ??= 'unknown_parameter';
      parts.push(
        `unknown parameter${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}${issue.keys.length > keys.length ? ` and ${issue.keys.length - keys.length} more` : ''}: remove ${keys.length > 1 ? 'them' : 'it'}`,
      );
    } else {
      param ??= path || null;
      code ??= 'invalid_request';
      parts.push(path ? `'${path}': ${issue.message}` : issue.message);
    }
  }
  if (err.issues.length > shown.length) parts.push(`and ${err.issues.length - shown.length} more problems`);
  return { message: parts.join('; '), param, code: code ?? 'invalid_request' };
}
