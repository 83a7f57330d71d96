// Server errors in the page's language: the error's code (ERROR_CODES) and the values it carries
// (params, field issues, a refused plan's problems) pick and fill a catalog message; the server's
// English message is only the fallback for a code this dashboard does not know yet.
import {
  ERROR_CODES,
  type ErrorCode,
  type ErrorParams,
  type FieldIssue,
  type FieldProblemView,
  REGISTRATION_PROBLEMS,
  type PlanProblem,
} from '@pagoda/protocol';
import type { I18n } from './translate.ts';
import type { MessageKey } from './en.ts';

/** What an error body says, as values. */
export interface ServerError {
  status: number | null;
  code: string | null;
  message: string;
  param: string | null;
  params: ErrorParams;
  issues: FieldIssue[];
  /** A refused launch's plan problems (no_capacity). */
  problems: PlanProblem[];
}

/** The error shape out of anything thrown: a client ApiError (with its body), a stream error, a plain Error. */
export function serverError(err: unknown): ServerError {
  const e = err as {
    status?: unknown;
    message?: unknown;
    param?: unknown;
    body?: unknown;
    code?: unknown;
  } | null;
  const body = (e?.body ?? null) as {
    error?: { code?: unknown; params?: unknown; issues?: unknown; param?: unknown };
    plan?: { problem_details?: unknown } | null;
    problem_details?: unknown;
  } | null;
  const inner = typeof body === 'object' && body !== null ? body.error : undefined;
  const code =
    typeof inner?.code === 'string' ? inner.code : typeof e?.code === 'string' ? e.code : null;
  return {
    status: typeof e?.status === 'number' ? e.status : null,
    code,
    message: typeof e?.message === 'string' ? e.message : String(err),
    param:
      typeof e?.param === 'string'
        ? e.param
        : typeof inner?.param === 'string'
          ? inner.param
          : null,
    params: (typeof inner?.params === 'object' && inner.params !== null
      ? inner.params
      : {}) as ErrorParams,
    issues: Array.isArray(inner?.issues) ? (inner.issues as FieldIssue[]) : [],
    problems: Array.isArray(body?.problem_details)
      ? (body.problem_details as PlanProblem[])
      : Array.isArray(body?.plan?.problem_details)
        ? (body.plan.problem_details as PlanProblem[])
        : [],
  };
}

export function isErrorCode(code: string | null): code is ErrorCode {
  return code !== null && code in ERROR_CODES;
}

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

function has(i18n: I18n, key: string): key is MessageKey {
  return i18n.t(key as MessageKey) !== key;
}

/** Labels a page gives its fields (parameter → label), used before the launch form's. */
export type FieldLabels = Readonly<Record<string, string>>;

/** A field's name as the page labels it (its own labels, the launch form's), else the parameter itself. */
export function fieldLabel(i18n: I18n, field: string, labels: FieldLabels = {}): string {
  if (labels[field]) return labels[field];
  const top = field.split('.')[0] ?? field;
  const key = `field.${top}`;
  return has(i18n, key) && top === field ? i18n.t(key) : field;
}

function value(i18n: I18n, v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => value(i18n, x)).join(', ');
  if (typeof v === 'number') return i18n.num(v, 4);
  if (v === null || v === undefined) return '—';
  return String(v);
}

/** One field's problem in the page's language. */
export function issueText(i18n: I18n, issue: FieldIssue): string {
  const { t } = i18n;
  const origin =
    issue.origin === 'string' ? 'string' : issue.origin === 'array' ? 'array' : 'number';
  switch (issue.issue) {
    case 'invalid_type':
      return t('issue.invalid_type', { expected: issue.expected ?? '' });
    case 'too_small':
      return t(
        `issue.too_small.${origin}${issue.inclusive === false && origin === 'number' ? '.exclusive' : ''}` as MessageKey,
        { minimum: value(i18n, issue.minimum) },
      );
    case 'too_big':
      return t(
        `issue.too_big.${origin}${issue.inclusive === false && origin === 'number' ? '.exclusive' : ''}` as MessageKey,
        { maximum: value(i18n, issue.maximum) },
      );
    case 'invalid_value':
      return t('issue.invalid_value', {
        options: (issue.options ?? []).map((o) => JSON.stringify(o)).join(', '),
      });
    case 'invalid_format':
      return t('issue.invalid_format', { expected: issue.expected ?? '' });
    case 'not_multiple_of':
      return t('issue.not_multiple_of', { divisor: value(i18n, issue.divisor) });
    case 'unknown_parameter':
      return t('issue.unknown_parameter');
    default:
      return t('issue.invalid');
  }
}

/** A field issue with the field named: "Max model length: must be at most 4096". */
export function issueLine(i18n: I18n, issue: FieldIssue, labels: FieldLabels = {}): string {
  const text = issueText(i18n, issue);
  return issue.field
    ? i18n.t('issue.line', { field: fieldLabel(i18n, issue.field, labels), text })
    : text;
}

/** One plan problem in the page's language, with its GPUs, sizes and by how much. */
export function planProblemText(i18n: I18n, p: PlanProblem): string {
  const { t, bytes, num } = i18n;
  const gpus = 'gpus' in p && Array.isArray(p.gpus) ? p.gpus.join(', ') : '';
  switch (p.kind) {
    case 'context_too_long':
      return t('plan.context_too_long', {
        max_model_len: num(p.max_model_len, 0),
        max_position_embeddings: num(p.max_position_embeddings, 0),
      });
    case 'tensor_parallel_heads':
      return t('plan.tensor_parallel_heads', {
        tp: p.tensor_parallel_size,
        heads: p.heads,
        kv_heads: p.kv_heads,
        valid: p.valid.join(', '),
      });
    case 'no_gpus':
      return t('plan.no_gpus');
    case 'no_workers':
      return t('plan.no_workers');
    case 'cpu_memory':
      return t('plan.cpu_memory', {
        worker: p.worker,
        need: bytes(p.need),
        room: bytes(p.room),
        short: bytes(p.short),
      });
    case 'no_eligible_gpus':
      return t('plan.no_eligible_gpus');
    case 'no_worker':
      return t('plan.no_worker', {
        worker: p.worker,
        workers: p.workers.join(', ') || t('common.none'),
      });
    case 'no_gpu_idx':
      return p.worker
        ? t('plan.no_gpu_idx.on', { gpus: p.gpu_idx.join(', '), worker: p.worker })
        : t('plan.no_gpu_idx', { gpus: p.gpu_idx.join(', ') });
    case 'replicas_short':
      return t('plan.replicas_short', { placed: p.placed, replicas: p.replicas });
    case 'too_few_gpus':
      return t('plan.too_few_gpus', {
        worker: p.worker,
        eligible: p.eligible,
        tp: p.tensor_parallel_size,
      });
    case 'over_budget':
      return t(p.gpus.length > 1 ? 'plan.over_budget.many' : 'plan.over_budget', {
        worker: p.worker,
        gpus,
        total: bytes(p.total),
        weights: bytes(p.weights),
        activations: bytes(p.activations),
        graphs: bytes(p.cuda_graphs),
        overhead: bytes(p.overhead),
        budget: bytes(p.budget),
        utilization: num(p.gpu_memory_utilization, 2),
        over: bytes(p.over),
      });
    case 'kv_too_small':
      return t(p.gpus.length > 1 ? 'plan.kv_too_small.many' : 'plan.kv_too_small', {
        worker: p.worker,
        gpus,
        total: bytes(p.total),
        kv: bytes(p.kv_cache),
        tokens: num(p.kv_cache_tokens, 0),
        max_model_len: num(p.max_model_len, 0),
      });
    case 'gpu_short':
      return t(p.gpus.length > 1 ? 'plan.gpu_short.many' : 'plan.gpu_short', {
        worker: p.worker,
        gpus,
        total: bytes(p.total),
        available: bytes(p.available),
        claim: bytes(p.claim),
        short: bytes(p.short),
      });
  }
}

/** A refused plan's problems, joined once (never a sentence per GPU). */
export function planProblemsText(i18n: I18n, problems: readonly PlanProblem[]): string {
  return problems.map((p) => planProblemText(i18n, p)).join(i18n.t('plan.separator'));
}

/**
 * The error in the page's language. A known code reads from the catalog, filled with the values the
 * error carries (the plain wording when one is missing); an unknown code falls back to the server's
 * message, which is the only case English reaches a translated page.
 */
export function translateError(i18n: I18n, err: unknown, labels: FieldLabels = {}): string {
  const s = serverError(err);
  const { t } = i18n;
  if (!isErrorCode(s.code)) {
    // No code: the server was not reached (a network failure), or an answer from something else.
    if (s.status === null && /fetch|network|reach/i.test(s.message)) return t('error.unreachable');
    if (s.status !== null && s.status >= 500) return t('error.status', { status: s.status });
    return s.message;
  }
  const code = s.code;
  if ((code === 'invalid_request' || code === 'unknown_parameter') && s.issues.length > 0)
    return t('error.invalid_request.issues', {
      issues: s.issues.map((i) => issueLine(i18n, i, labels)).join(t('plan.separator')),
    });
  if (code === 'no_capacity' && s.problems.length > 0)
    return t('error.no_capacity.problems', { problems: planProblemsText(i18n, s.problems) });
  const values: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(s.params)) if (v !== null) values[k] = value(i18n, v);
  if (values.field !== undefined) values.field = fieldLabel(i18n, String(s.params.field), labels);
  if (values.field === undefined && s.param) values.field = fieldLabel(i18n, s.param, labels);
  const key = `error.${code}` as MessageKey;
  const full = t(key);
  const missing = placeholders(full).some((p) => values[p] === undefined);
  return missing ? t(`error.${code}.plain` as MessageKey) : t(key, values);
}

/**
 * What the error says about one form field, in the page's language, or null when it names another:
 * a validation failure's issues for that field, or the whole error when its param is that field.
 */
export function fieldErrorText(i18n: I18n, err: unknown, field: string): string | null {
  if (!err) return null;
  const s = serverError(err);
  const mine = s.issues.filter((i) => i.field === field || i.field.startsWith(`${field}.`));
  if (mine.length > 0) return mine.map((i) => issueText(i18n, i)).join(i18n.t('plan.separator'));
  if (s.param === field || s.param?.startsWith(`${field}.`) || s.param?.startsWith(`${field}[`))
    return translateError(i18n, err);
  return null;
}

/** One field of a refused registration in the page's language: its kind and params, or its zod issue. */
export function fieldProblemText(i18n: I18n, p: FieldProblemView): string {
  if (p.problem && p.problem in REGISTRATION_PROBLEMS) {
    const values: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(p.params ?? {})) if (v !== null) values[k] = value(i18n, v);
    const text = i18n.t(`reg.${p.problem}` as MessageKey, values);
    if (!placeholders(text).length) return text;
  }
  if (p.issue) return issueText(i18n, p.issue);
  return p.message;
}
