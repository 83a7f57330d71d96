// OpenAI's error body ({error: {message, type, param, code}}) and the helpers that build it,
// including turning a zod failure into a message that names the offending parameter.
import { z } from 'zod';

/** A value an error carries beside its English message (a model uid, a limit, a count). */
export type ErrorParamValue = string | number | boolean | null | Array<string | number>;
/** The values of one error, named: clients that word errors themselves (the dashboard) fill them in. */
export type ErrorParams = Record<string, ErrorParamValue>;

/** What is wrong with one field, as values rather than words: a validation failure reduced from zod's issue. */
export interface FieldIssue {
  /** The field's path, dot-separated (`messages.0.content`); '' for the body itself. */
  field: string;
  issue:
    | 'invalid_type'
    | 'too_small'
    | 'too_big'
    | 'invalid_value'
    | 'invalid_format'
    | 'not_multiple_of'
    | 'unknown_parameter'
    | 'invalid';
  /** invalid_type: the type wanted; invalid_format: the format (email, uuid, regex…). */
  expected?: string;
  /** too_small / too_big: the bound, and whether it is allowed itself; `origin` says what is counted. */
  minimum?: number;
  maximum?: number;
  inclusive?: boolean;
  origin?: string;
  /** invalid_value: the values allowed. */
  options?: Array<string | number | boolean | null>;
  divisor?: number;
}

const ErrorParamValueSchema = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.null(),
  z.array(z.union([z.string(), z.number()])),
]);
const FieldIssueSchema = z.object({
  field: z.string(),
  issue: z.enum([
    'invalid_type',
    'too_small',
    'too_big',
    'invalid_value',
    'invalid_format',
    'not_multiple_of',
    'unknown_parameter',
    'invalid',
  ]),
  expected: z.string().optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  inclusive: z.boolean().optional(),
  origin: z.string().optional(),
  options: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  divisor: z.number().optional(),
});

export const ErrorBodySchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.union([z.string(), z.number()]).nullable(),
    /** The values the message names, by name (ERROR_PARAMS says which each code carries). */
    params: z.record(z.string(), ErrorParamValueSchema).optional(),
    /** A validation failure: each field's problem as values. */
    issues: z.array(FieldIssueSchema).optional(),
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
  context_length_exceeded: 'the prompt (with max_tokens) is longer than the model\'s context (max_model_len)',
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

/**
 * The params an error of each code carries beside its message, when the code that threw it knows
 * them (a client falls back to the code's plain wording when one is missing). invalid_request and
 * unknown_parameter from validation carry `issues` instead; no_capacity carries the refused `plan`
 * (its `problem_details`) beside the error.
 */
export const ERROR_PARAMS = {
  invalid_request: ['field'],
  invalid_json: [],
  unknown_parameter: ['field'],
  invalid_id: ['value', 'field'],
  nul_byte: ['field'],
  context_length_exceeded: ['max_model_len', 'prompt_tokens', 'max_tokens'],
  unsupported_content_type: [],
  request_too_large: ['limit_mb'],
  missing_api_key: [],
  invalid_api_key: [],
  permission_denied: [],
  admin_key_required: ['key'],
  model_not_allowed: ['model'],
  not_found: [],
  route_not_found: ['method', 'path'],
  model_not_found: ['model'],
  registration_not_found: ['model_name'],
  key_not_found: ['name'],
  benchmark_not_found: ['id'],
  already_exists: ['name'],
  last_admin_key: ['name'],
  no_capacity: [],
  conflict: [],
  queue_full: [],
  rate_limited: ['model', 'limit'],
  client_closed: [],
  model_unavailable: ['model'],
  upstream_failed: ['model'],
  service_unavailable: [],
  not_implemented: [],
  internal_error: ['id'],
} as const satisfies Record<ErrorCode, readonly string[]>;

/**
 * A registration refusal's problem kinds (the `errors` list of POST /v1/model_registrations), each
 * with the params its message names: clients word them from these rather than from the message.
 */
export const REGISTRATION_PROBLEMS = {
  path_missing: ['path'],
  path_is_file: ['path'],
  bad_repo_id: ['value'],
  no_config: ['path'],
  no_tokenizer: ['path'],
  bad_config: ['path'],
  invalid_name: ['value'],
  builtin_name: ['value'],
  one_source: [],
  context_too_long: ['value', 'maximum'],
  no_chat_template: [],
} as const satisfies Record<string, readonly string[]>;
export type RegistrationProblemKind = keyof typeof REGISTRATION_PROBLEMS;

/** One field of a refused registration: the English message, and as values its kind and params or zod issue. */
export interface FieldProblemView {
  field: string;
  message: string;
  problem?: RegistrationProblemKind;
  params?: ErrorParams;
  issue?: FieldIssue;
}

/** What an error carries besides status, message, param and code. */
export interface ErrorDetails {
  params?: ErrorParams;
  issues?: FieldIssue[];
}

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
  } & ErrorDetails = {},
): ErrorBody {
  const status = opts.status ?? 400;
  const type = opts.type ?? ERROR_TYPE_BY_STATUS[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  return {
    error: {
      message: clip(message, MAX_ERROR_MESSAGE_CHARS),
      type,
      param: opts.param == null ? null : clip(opts.param, 200),
      code: opts.code ?? defaultErrorCode(status),
      ...(opts.params && Object.keys(opts.params).length > 0 ? { params: clipParams(opts.params) } : {}),
      ...(opts.issues && opts.issues.length > 0 ? { issues: opts.issues } : {}),
    },
  };
}

/** Params with every string clipped: a client-given value never comes back whole when huge. */
function clipParams(params: ErrorParams): ErrorParams {
  const out: ErrorParams = {};
  for (const [k, v] of Object.entries(params))
    out[k] =
      typeof v === 'string'
        ? clip(v, 200)
        : Array.isArray(v)
          ? v.slice(0, 20).map((x) => (typeof x === 'string' ? clip(x, 200) : x))
          : v;
  return out;
}

/** Zod's issue as values: the field, what is wrong and the bound or the allowed values. */
export function fieldIssue(issue: z.core.$ZodIssue, field: string): FieldIssue {
  switch (issue.code) {
    case 'invalid_type':
      return { field, issue: 'invalid_type', expected: String(issue.expected) };
    case 'too_small':
      return { field, issue: 'too_small', minimum: Number(issue.minimum), inclusive: issue.inclusive ?? true, origin: String(issue.origin) };
    case 'too_big':
      return { field, issue: 'too_big', maximum: Number(issue.maximum), inclusive: issue.inclusive ?? true, origin: String(issue.origin) };
    case 'invalid_value':
      return {
        field,
        issue: 'invalid_value',
        options: issue.values.slice(0, 20).map((v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : String(v))),
      };
    case 'invalid_format':
      return { field, issue: 'invalid_format', expected: String(issue.format) };
    case 'not_multiple_of':
      return { field, issue: 'not_multiple_of', divisor: Number(issue.divisor) };
    default:
      return { field, issue: 'invalid' };
  }
}

/** One readable sentence for a zod failure (its first few issues), the parameter and the code. */
export function describeZodError(err: z.ZodError): { message: string; param: string | null; code: ErrorCode; issues: FieldIssue[] } {
  const parts: string[] = [];
  const issues: FieldIssue[] = [];
  let param: string | null = null;
  let code: ErrorCode | null = null;
  const shown = err.issues.slice(0, 5);
  for (const issue of shown) {
    const path = clip(issue.path.map(String).join('.'), 200);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.slice(0, 5).map((k) => clip(path ? `${path}.${k}` : k));
      param ??= keys[0] ?? null;
      code ??= 'unknown_parameter';
      for (const k of keys) issues.push({ field: k, issue: 'unknown_parameter' });
      parts.push(
        `unknown parameter${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}${issue.keys.length > keys.length ? ` and ${issue.keys.length - keys.length} more` : ''}: remove ${keys.length > 1 ? 'them' : 'it'}`,
      );
    } else {
      param ??= path || null;
      code ??= 'invalid_request';
      issues.push(fieldIssue(issue, path));
      parts.push(path ? `'${path}': ${issue.message}` : issue.message);
    }
  }
  if (err.issues.length > shown.length) parts.push(`and ${err.issues.length - shown.length} more problems`);
  return { message: parts.join('; '), param, code: code ?? 'invalid_request', issues };
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
): { ok: true; data: z.output<S> } | { ok: false; message: string; param: string | null; code: ErrorCode; issues: FieldIssue[] } {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body))
    return { ok: false, message: BODY_NOT_OBJECT, param: null, code: defaultErrorCode(400), issues: [{ field: '', issue: 'invalid_type', expected: 'object' }] };
  const parsed = schema.safeParse(body);
  if (parsed.success) return { ok: true, data: parsed.data };
  return { ok: false, ...describeZodError(parsed.error) };
}
