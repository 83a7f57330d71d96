// The remote backend: one `pagoda serve --backend remote` in front of another runner (the real CPU engine
// on stories260k) — requests, streams, upstream errors and tokenize pass through; engine gauges are scraped.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PLAIN_CHAT_TEMPLATE,
  STORIES,
  startServe,
  type ServeProcess,
} from './helpers/serve-process.ts';

let upstream: ServeProcess;
let front: ServeProcess;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startServe([
    STORIES,
    '--served-model-name',
    'stories',
    '--device',
    'cpu',
    '--chat-template',
    PLAIN_CHAT_TEMPLATE,
  ]);
  front = await startServe([
    'stories',
    '--backend',
    'remote',
    '--remote-base-url',
    `${upstream.url}/v1`,
    '--api-key',
    'front-key',
    '--allowed-origins',
    '["https://app.example"]',
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

  it('passes continuous_usage_stats upstream: every streamed chunk carries the counts so far', async () => {
    const res = await fetch(`${front.url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer front-key' },
      body: JSON.stringify({
        model: 'stories',
        prompt: 'Once upon a time',
        max_tokens: 6,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: true },
      }),
    });
    expect(res.status).toBe(200);
    const chunks = (await res.text())
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)) as { choices: unknown[]; usage?: { completion_tokens: number } });
    const withText = chunks.filter((c) => c.choices.length > 0);
    expect(withText.length).toBeGreaterThan(1);
    for (const c of withText) expect(c.usage).toBeDefined();
    const counts = withText.map((c) => c.usage!.completion_tokens);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(6);
  });

  it("asks upstream for a whole answer when prompt_logprobs is set, as vLLM streams none", async () => {
    const ask = async (url: string, path: string, body: object) => {
      const res = await fetch(`${url}/v1/${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer front-key' },
        body: JSON.stringify({ model: 'stories', max_tokens: 5, temperature: 0, prompt_logprobs: 2, ...body }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown> & {
        choices: Array<Record<string, unknown>>;
      };
    };
    const completion = { prompt: 'Once upon a time' };
    const [direct, fronted] = await Promise.all([
      ask(upstream.url, 'completions', completion),
      ask(front.url, 'completions', completion),
    ]);
    expect(fronted.choices[0]!.prompt_logprobs).toEqual(direct.choices[0]!.prompt_logprobs);
    expect((fronted.choices[0]!.prompt_logprobs as unknown[]).length).toBeGreaterThan(3);
    expect(fronted.choices[0]!.text).toBe(direct.choices[0]!.text);
    expect(fronted.usage).toEqual(direct.usage);
    const chat = { messages: [{ role: 'user', content: 'Once upon a time' }] };
    const [directChat, frontedChat] = await Promise.all([
      ask(upstream.url, 'chat/completions', chat),
      ask(front.url, 'chat/completions', chat),
    ]);
    expect(frontedChat.prompt_logprobs).toEqual(directChat.prompt_logprobs);
    expect(frontedChat.choices[0]!.message).toEqual(directChat.choices[0]!.message);
    expect(frontedChat.model).toBe('stories');
  });

  it('keeps the upstream status and message for a bad request', async () => {
    await expect(
      client.completions.create({ model: 'stories', prompt: 'Once', max_tokens: 5000 }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/maximum context length is 512/),
    });
  });

  it("answers browsers' CORS preflights before the key check, and only for allowed origins", async () => {
    // upstream: vLLM's default, any origin; front: one named origin
    const pre = (url: string, origin: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
      });
    const any = await pre(upstream.url, 'https://x.example');
    expect(any.status).toBe(204);
    expect(any.headers.get('access-control-allow-origin')).toBe('*');
    const named = await pre(front.url, 'https://app.example');
    expect(named.status).toBe(204);
    expect(named.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(named.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
    const other = await pre(front.url, 'https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // the answer itself carries the header, and the key is still needed
    const post = (key?: string) =>
      fetch(`${front.url}/v1/models`, {
        headers: { Origin: 'https://app.example', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
      });
    expect((await post('front-key')).headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await post()).status).toBe(401);
  });

  it('checks its own key and model names before forwarding', async () => {
    expect((await fetch(`${front.url}/v1/models`)).status).toBe(401);
    const invocation = await fetch(`${front.url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'stories', prompt: 'x' }),
    });
    expect(invocation.status).toBe(401);
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
