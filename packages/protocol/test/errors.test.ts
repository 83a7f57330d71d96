// The error shape every process answers with: OpenAI's types by status (403 and 409 included), a
// code from ERROR_CODES on every error, messages that never carry a huge input back whole, and
// process-reported reasons with their directories cut.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ChatCompletionRequestSchema,
  clip,
  CompletionRequestSchema,
  defaultErrorCode,
  describeZodError,
  ERROR_CODES,
  errorBody,
  ERROR_PARAMS,
  MAX_ERROR_MESSAGE_CHARS,
  mergePlanProblems,
  planProblemMessage,
  redactPaths,
} from '../src/index.ts';

describe('errorBody', () => {
  it('types 403 and 409 as OpenAI does, and gives every status a code from ERROR_CODES', () => {
    expect(errorBody('no', { status: 403 }).error).toMatchObject({ type: 'permission_error', code: 'permission_denied' });
    expect(errorBody('taken', { status: 409 }).error).toMatchObject({ type: 'conflict_error', code: 'conflict' });
    for (const status of [400, 401, 403, 404, 409, 413, 415, 422, 429, 499, 500, 501, 502, 503, 504]) {
      const { error } = errorBody('x', { status });
      expect(Object.keys(ERROR_CODES), String(status)).toContain(error.code);
      expect(error.type).not.toBe(status < 500 ? 'server_error' : 'invalid_request_error');
      expect(defaultErrorCode(status)).toBe(error.code);
    }
    expect(errorBody('x', { status: 404, code: 'model_not_found' }).error.code).toBe('model_not_found');
  });

  it('caps a message and a param, so a multi-megabyte input never comes back whole', () => {
    const huge = 'z'.repeat(3_000_000);
    const { error } = errorBody(`model '${huge}' is unknown`, { status: 404, param: huge });
    expect(error.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS + 40);
    expect(error.message).toMatch(/… \(3000019 characters\)$/);
    expect(error.param!.length).toBeLessThan(250);
    expect(clip('short')).toBe('short');
    expect(clip('y'.repeat(100))).toBe(`${'y'.repeat(64)}… (100 characters)`);
  });
});

describe('describeZodError', () => {
  it('names unknown keys briefly, however long, with the unknown_parameter code', () => {
    const schema = z.strictObject({ a: z.number() });
    const parsed = schema.safeParse({ a: 1, ['k'.repeat(1_000_000)]: 1 });
    const { message, code, param } = describeZodError(parsed.error!);
    expect(code).toBe('unknown_parameter');
    expect(message.length).toBeLessThan(200);
    expect(param!.length).toBeLessThan(100);
  });

  it('reports the first few of many problems and counts the rest', () => {
    const parsed = z.array(z.string()).safeParse(Array.from({ length: 10_000 }, (_, i) => i));
    const { message, code } = describeZodError(parsed.error!);
    expect(code).toBe('invalid_request');
    expect(message).toMatch(/and 9995 more problems$/);
    expect(message.length).toBeLessThan(1_000);
  });
});

describe('stream_options', () => {
  it('needs stream: true, as vLLM says', () => {
    const chat = { messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } };
    const completion = { prompt: 'hi', stream_options: { include_usage: true } };
    for (const stream of [undefined, false, null]) {
      for (const [schema, body] of [
        [ChatCompletionRequestSchema, chat],
        [CompletionRequestSchema, completion],
      ] as const) {
        const parsed = schema.safeParse({ ...body, stream });
        expect(parsed.success).toBe(false);
        expect(describeZodError(parsed.error!).param).toBe('stream_options');
      }
    }
    expect(ChatCompletionRequestSchema.safeParse({ ...chat, stream: true }).success).toBe(true);
    expect(CompletionRequestSchema.safeParse({ ...completion, stream: true }).success).toBe(true);
    expect(CompletionRequestSchema.safeParse({ prompt: 'hi', stream_options: null }).success).toBe(true);
  });
});

describe('chat content parts', () => {
  it('refuses an image part by its type, keeps text parts, and points at the field', () => {
    const ask = (content: unknown) =>
      ChatCompletionRequestSchema.safeParse({ model: 'm', messages: [{ role: 'user', content }] });
    const image = describeZodError(ask([{ type: 'image_url', image_url: { url: 'http://x' } }]).error!);
    expect(image.param).toBe('messages.0.content.0.type');
    expect(image.message).toMatch(/content parts of type 'image_url' are not supported/);
    expect(describeZodError(ask([{ type: 'text' }]).error!).param).toBe('messages.0.content.0.text');
    const text = ask([{ type: 'text', text: 'hi' }]);
    expect(text.success && text.data.messages[0]!.content).toEqual([{ type: 'text', text: 'hi' }]);
  });
});

describe('redactPaths', () => {
  it('keeps the file a reason names and drops its directories', () => {
    expect(redactPaths('cannot open /srv/models/llama/config.json: no such file')).toBe('cannot open …/config.json: no such file');
    expect(redactPaths('Error\n    at load (/work/pagoda/packages/engine/src/engine.ts:42:7)')).toBe('Error\n    at load (…/engine.ts:42:7)');
    expect(redactPaths('the engine failed: CUDA error 700 (illegal memory access)')).toBe('the engine failed: CUDA error 700 (illegal memory access)');
  });
});

describe('error values beside the message', () => {
  it('lists the params of every code, and errorBody carries them clipped', () => {
    expect(Object.keys(ERROR_PARAMS).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    const huge = 'm'.repeat(100_000);
    const { error } = errorBody(`model '${huge}' is not launched`, { status: 404, code: 'model_not_found', params: { model: huge } });
    expect(error.params!.model).toMatch(/^m{200}… \(100000 characters\)$/);
    expect(errorBody('x', { status: 400 }).error).not.toHaveProperty('params');
  });

  it('reduces zod issues to values: the field, what is wrong and the bound', () => {
    const schema = z.strictObject({ temperature: z.number().max(2), n: z.number().int().min(1), mode: z.enum(['a', 'b']), s: z.string() });
    const parsed = schema.safeParse({ temperature: 5, n: 0, mode: 'c', s: 3, extra: 1 });
    const { issues, code } = describeZodError(parsed.error!);
    expect(code).toBe('invalid_request');
    expect(issues).toEqual(
      expect.arrayContaining([
        { field: 'temperature', issue: 'too_big', maximum: 2, inclusive: true, origin: 'number' },
        { field: 'n', issue: 'too_small', minimum: 1, inclusive: true, origin: 'number' },
        { field: 'mode', issue: 'invalid_value', options: ['a', 'b'] },
        { field: 's', issue: 'invalid_type', expected: 'string' },
        { field: 'extra', issue: 'unknown_parameter' },
      ]),
    );
  });
});

describe('plan problems', () => {
  it('merges GPUs of one worker with the same numbers, and says them once in English', () => {
    const GiB = 2 ** 30;
    const over = (gpu: number, worker = 'w1') => ({
      kind: 'over_budget' as const,
      worker,
      gpus: [gpu],
      total: 80 * GiB,
      weights: 131 * GiB,
      activations: GiB,
      cuda_graphs: GiB,
      overhead: GiB,
      budget: 72 * GiB,
      gpu_memory_utilization: 0.9,
      over: 62 * GiB,
    });
    const merged = mergePlanProblems([over(0), over(1), over(0, 'w2'), { kind: 'no_gpus' }]);
    expect(merged.map((p) => ('gpus' in p ? `${p.worker}:${p.gpus.join(',')}` : p.kind))).toEqual(['w1:0,1', 'w2:0', 'no_gpus']);
    expect(planProblemMessage(merged[0]!)).toBe(
      'w1: GPU 0, 1 (80.00 GiB each): weights 131.00 GiB + activations 1.00 GiB + CUDA graphs 1.00 GiB + overhead 1.00 GiB exceed gpu_memory_utilization 0.9 × total = 72.00 GiB by 62.00 GiB',
    );
  });
});
