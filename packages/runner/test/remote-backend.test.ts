// The remote backend: one `pagoda serve --backend remote` in front of another runner (the real CPU engine
// on stories260k) — requests, streams, upstream errors and tokenize pass through; engine gauges are scraped.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORIES, startServe, type ServeProcess } from './helpers/serve-process.ts';

let upstream: ServeProcess;
let front: ServeProcess;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startServe([STORIES, '--served-model-name', 'stories', '--device', 'cpu']);
  front = await startServe([
    'stories',
    '--backend',
    'remote',
    '--remote-base-url',
    `${upstream.url}/v1`,
    '--api-key',
    'front-key',
  ]);
  client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: 'front-key', maxRetries: 0 });
});
afterAll(async () => {
  await front?.stop();
  await upstream?.stop();
});

describe('remote backend', () => {
  it('answers like the upstream server, streamed or not', async () => {
    const direct = new OpenAI({ baseURL: `${upstream.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const ask = { model: 'stories', prompt: 'Once upon a time', max_tokens: 16, temperature: 0 };
    const want = (await direct.completions.create(ask)).choices[0]!.text;
    const got = await client.completions.create(ask);
    expect(got.choices[0]!.text).toBe(want);
    expect(got.usage!.completion_tokens).toBe(16);
    let streamed = '';
    for await (const c of await client.completions.create({ ...ask, stream: true }))
      streamed += c.choices[0]?.text ?? '';
    expect(streamed).toBe(want);
  });

  it('keeps the upstream status and message for a bad request', async () => {
    await expect(
      client.completions.create({ model: 'stories', prompt: 'Once', max_tokens: 5000 }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/maximum context length is 512/),
    });
  });

  it('checks its own key and model names before forwarding', async () => {
    expect((await fetch(`${front.url}/v1/models`)).status).toBe(401);
    await expect(client.completions.create({ model: 'other', prompt: 'x' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('forwards tokenize and scrapes engine gauges from the upstream /metrics', async () => {
    const res = await fetch(`${front.url}/tokenize`, {
      method: 'POST',
      headers: { Authorization: 'Bearer front-key' },
      body: JSON.stringify({ prompt: 'Once upon a time' }),
    });
    expect(((await res.json()) as { tokens: number[] }).tokens).toEqual([1, 403, 407, 261, 378]);
    const metrics = await (await fetch(`${front.url}/metrics`)).text();
    expect(metrics).toMatch(/vllm:kv_cache_usage_perc\{model_name="stories"\} \d/);
    expect(metrics).toMatch(/vllm:generation_tokens_total\{model_name="stories"\} [1-9]/);
  });

  it('answers 502 when the upstream server is gone', async () => {
    await upstream.stop();
    await expect(
      client.completions.create({ model: 'stories', prompt: 'Once', max_tokens: 2 }),
    ).rejects.toMatchObject({ status: 502 });
  });
});
