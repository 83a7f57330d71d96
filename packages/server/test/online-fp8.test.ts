// quantization 'fp8' on an unquantized checkpoint, through the platform as vLLM's --quantization fp8:
// planned at 8-bit linear weights, the runner started with the flag, and the answers those of
// weights quantized at load (near transformers' golden, not equal to it as the bf16 launch is).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneWorkerCluster, type OneWorkerCluster } from './one-worker-cluster.ts';
import { ROOT, waitFor } from './platform-helpers.ts';

const CHECKPOINT = join(ROOT, '../shared/models/tiny-llama3');
const golden = JSON.parse(readFileSync(join(ROOT, '../shared/fixtures/golden/tiny-llama3.golden.json'), 'utf8')) as {
  cases: { prompt_ids: number[]; greedy_logprobs: number[] }[];
};

let c: OneWorkerCluster;

beforeAll(async () => {
  c = await startOneWorkerCluster('online-fp8');
  expect((await c.api('POST', '/v1/model_registrations/LLM', { model_name: 'tl3', model_path: CHECKPOINT })).status).toBe(200);
}, 60_000);
afterAll(async () => {
  await c?.close();
});

/** The logprob of the first greedy token of every golden prompt, from a launched model. */
async function firstLogprobs(uid: string): Promise<number[]> {
  const out: number[] = [];
  for (const g of golden.cases) {
    const res = await fetch(`${c.server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: uid, prompt: g.prompt_ids, max_tokens: 1, temperature: 0, logprobs: 0 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { logprobs: { token_logprobs: number[] } }[] };
    out.push(body.choices[0]!.logprobs.token_logprobs[0]!);
  }
  return out;
}

describe("quantization 'fp8' on a safetensors checkpoint", () => {
  it('plans fewer bytes than the unquantized launch, and the engines list says who quantizes at load', async () => {
    const plan = async (quantization: string) => (await c.api('POST', '/api/plan', { model_name: 'tl3', quantization, n_gpu: 0 })).json.replicas[0].bytes_per_device as number;
    expect(await plan('fp8')).toBeLessThan(await plan('none'));
    const { json: engines } = await c.api('GET', '/v1/engines/tl3');
    expect(engines.builtin[0].quantizations).toEqual(['none', 'fp8']);
    const int4 = await c.api('POST', '/v1/models', { model_name: 'tl3', quantization: 'Int4', n_gpu: 0 });
    expect(int4.status).toBe(400);
    expect(int4.json.error.param).toBe('quantization');
  });

  it('starts the runner with --quantization fp8 and answers from weights quantized at load', async () => {
    for (const [uid, quantization] of [['bf', 'none'], ['f8', 'fp8']] as const) {
      const r = await c.api('POST', '/v1/models', { model_name: 'tl3', model_uid: uid, quantization, n_gpu: 0 });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
    for (const uid of ['bf', 'f8']) await waitFor(`${uid} ready`, async () => (await c.api('GET', `/v1/models/${uid}/progress`)).json.status === 'ready', 90_000, 200);
    const { json: view } = await c.api('GET', '/v1/models/f8');
    expect(view).toMatchObject({ model_format: 'safetensors', quantization: 'fp8', engine_kwargs: { quantization: 'fp8' } });
    expect((await c.api('GET', '/v1/models/bf')).json.engine_kwargs.quantization).toBeUndefined();

    const want = golden.cases.map((g) => g.greedy_logprobs[0]!);
    const bf = await firstLogprobs('bf');
    const f8 = await firstLogprobs('f8');
    for (const [i, lp] of bf.entries()) expect(Math.abs(lp - want[i]!)).toBeLessThan(1e-4);
    // FP8 weights move every logit a little (0.006-0.1 here), never far
    for (const [i, lp] of f8.entries()) expect(Math.abs(lp - want[i]!)).toBeLessThan(0.25);
    expect(Math.max(...f8.map((lp, i) => Math.abs(lp - want[i]!)))).toBeGreaterThan(1e-3);
  });
});
