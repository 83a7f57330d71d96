// Server errors in the dashboard's language, without a browser: every code in ERROR_CODES has a
// message in both catalogs naming only the params the server sends for it (and a plain one when a
// param may be missing); field issues and plan problems read in Chinese with no English sentence left.
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  ERROR_PARAMS,
  errorBody,
  mergePlanProblems,
  planProblemMessage,
  type PlanProblem,
} from '../../packages/protocol/src/index.ts';
import { en, type MessageKey } from '../../apps/dashboard/src/i18n/en.ts';
import { makeI18n } from '../../apps/dashboard/src/i18n/translate.ts';
import {
  fieldErrorText,
  planProblemsText,
  translateError,
} from '../../apps/dashboard/src/i18n/server-error.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
const zh = makeI18n('zh-CN', () => {});
const english = makeI18n('en', () => {});
/** An English word of four letters or more: what a sentence left untranslated shows. */
const ENGLISH_WORD = /\b(?!GiB\b|MiB\b|KiB\b|HTTP\b|JSON\b|CUDA\b|NUL\b)[A-Za-z]{4,}\b/;

/** What the client throws for an error body: status, English message, param, and the body. */
function thrown(status: number, body: ReturnType<typeof errorBody> & Record<string, unknown>) {
  return Object.assign(new Error(body.error.message), { status, param: body.error.param, body });
}

const GiB = 2 ** 30;
const SAMPLE_PROBLEMS: PlanProblem[] = [
  { kind: 'context_too_long', max_model_len: 200000, max_position_embeddings: 131072 },
  { kind: 'tensor_parallel_heads', tensor_parallel_size: 3, heads: 32, kv_heads: 8, valid: [1, 2, 4, 8] },
  { kind: 'no_gpus' },
  { kind: 'no_eligible_gpus' },
  { kind: 'no_workers' },
  { kind: 'cpu_memory', worker: 'w1', need: 20 * GiB, room: 8 * GiB, short: 12 * GiB },
  { kind: 'no_worker', worker: 'gpu-9', workers: ['w1'] },
  { kind: 'no_gpu_idx', gpu_idx: [5], worker: null },
  { kind: 'replicas_short', placed: 1, replicas: 2 },
  { kind: 'too_few_gpus', worker: 'w1', eligible: 1, tensor_parallel_size: 2 },
  { kind: 'over_budget', worker: 'w1', gpus: [0, 1], total: 80 * GiB, weights: 131 * GiB, activations: GiB, cuda_graphs: GiB, overhead: GiB, budget: 72 * GiB, gpu_memory_utilization: 0.9, over: 62 * GiB },
  { kind: 'kv_too_small', worker: 'w1', gpus: [0], total: 80 * GiB, kv_cache: GiB, kv_cache_tokens: 8192, max_model_len: 131072 },
  { kind: 'gpu_short', worker: 'w1', gpus: [0, 1], total: 80 * GiB, available: 16 * GiB, claim: 72 * GiB, short: 56 * GiB },
];

describe('server error catalog', () => {
  it('has a message for every error code in both languages, naming only the params the code carries', () => {
    for (const code of Object.keys(ERROR_CODES) as Array<keyof typeof ERROR_CODES>) {
      const key = `error.${code}` as MessageKey;
      expect(en[key], key).toBeTruthy();
      expect(zhCN[key], key).toBeTruthy();
      expect(zhCN[key], key).not.toBe(en[key]);
      const named = placeholders(en[key]);
      for (const p of named) expect(ERROR_PARAMS[code] as readonly string[], `${key} names {${p}}`).toContain(p);
      // A message that names a param has a plain twin for errors that do not carry it.
      if (named.length > 0) {
        const plain = `error.${code}.plain` as MessageKey;
        expect(en[plain], plain).toBeTruthy();
        expect(zhCN[plain], plain).toBeTruthy();
        expect(placeholders(en[plain]), plain).toEqual([]);
      }
    }
  });

  it('fills a code’s message from its params, and falls back to the plain one when they are missing', () => {
    const withName = thrown(409, { ...errorBody("a key named 'ops' exists; revoke it or pick another name", { status: 409, code: 'already_exists', param: 'name', params: { name: 'ops' } }) });
    expect(translateError(zh, withName)).toBe('ops 已存在，请换一个名称。');
    expect(translateError(english, withName)).toBe('ops exists already: pick another name.');
    const bare = thrown(409, errorBody('taken', { status: 409, code: 'already_exists' }));
    expect(translateError(zh, bare)).toBe(zhCN['error.already_exists.plain']);
    // A code this dashboard does not know keeps the server's sentence rather than saying nothing.
    const unknown = thrown(400, errorBody('a brand new refusal', { status: 400, code: 'brand_new_code' }));
    expect(translateError(zh, unknown)).toBe('a brand new refusal');
  });

  it('words every code in Chinese with no English sentence, whatever params it carries', () => {
    for (const code of Object.keys(ERROR_CODES)) {
      const params = Object.fromEntries((ERROR_PARAMS[code as keyof typeof ERROR_PARAMS] as readonly string[]).map((p) => [p, p === 'field' ? 'max_tokens' : 7]));
      const text = translateError(zh, thrown(400, errorBody('An English sentence the server sent', { status: 400, code, params })));
      expect(text, code).not.toMatch(ENGLISH_WORD);
      expect(text, code).toMatch(/[\u4e00-\u9fff]/);
    }
  });

  it('turns zod issues into field messages in the page’s language, beside the field they name', () => {
    const body = errorBody("'temperature': Too big: expected number to be <=2", {
      status: 400,
      code: 'invalid_request',
      param: 'temperature',
      issues: [{ field: 'temperature', issue: 'too_big', maximum: 2, inclusive: true, origin: 'number' }],
    });
    expect(translateError(zh, thrown(400, body))).toBe('请求有误：temperature：不能大于 2。');
    const launch = thrown(400, errorBody("'max_model_len': Too small", { status: 400, code: 'invalid_request', param: 'max_model_len', issues: [{ field: 'max_model_len', issue: 'too_small', minimum: 1, inclusive: true, origin: 'number' }] }));
    // The launch form's label for the field, not the parameter's name.
    expect(translateError(zh, launch)).toBe(`请求有误：${zhCN['field.max_model_len']}：不能小于 1。`);
    expect(fieldErrorText(zh, launch, 'max_model_len')).toBe('不能小于 1');
    expect(fieldErrorText(zh, launch, 'replica')).toBeNull();
  });

  it('says a refused plan once, in Chinese, with GPUs of the same numbers merged into one problem', () => {
    for (const p of SAMPLE_PROBLEMS) {
      const text = planProblemsText(zh, [p]);
      // A command in “quotes” is typed as it is, in any language.
      expect(text.replace(/“[^”]*”/g, ''), p.kind).not.toMatch(ENGLISH_WORD);
      expect(text, p.kind).toMatch(/[\u4e00-\u9fff]/);
    }
    const perGpu: PlanProblem[] = [0, 1].map((i) => ({ kind: 'gpu_short', worker: 'w1', gpus: [i], total: 80 * GiB, available: 16 * GiB, claim: 72 * GiB, short: 56 * GiB }));
    const merged = mergePlanProblems(perGpu);
    expect(merged).toHaveLength(1);
    expect(planProblemMessage(merged[0]!)).toBe('w1: GPU 0, 1 have 16.00 GiB available of 80.00 GiB each, a shard claims 72.00 GiB');
    const refusal = thrown(409, { ...errorBody('The model does not fit: …', { status: 409, code: 'no_capacity' }), plan: { problem_details: merged } });
    const text = translateError(zh, refusal);
    expect(text).toBe('放不下：w1 的 GPU 0, 1 每块在 80 GiB 中只剩 16 GiB；每个分片需要 72 GiB，还差 56 GiB。');
    expect(text.match(/GPU/g)).toHaveLength(1);
  });
});
