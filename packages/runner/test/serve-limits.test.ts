// `pagoda serve` limits on the real CPU engine: --api-key (401), --max-request-body-bytes (413), and the
// waiting-queue bound (429) with --max-num-seqs / --max-waiting-requests.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSlowModel, startServe, type ServeProcess } from './helpers/serve-process.ts';

const KEY = 'sk-test-123';
const MODEL = 'slow';
let server: ServeProcess;

beforeAll(async () => {
  // a model slow enough that a long request is still running when the next ones arrive
  server = await startServe([
    `${makeSlowModel()}/config.json`,
    '--load-format',
    'dummy',
    '--served-model-name',
    MODEL,
    '--api-key',
    KEY,
    '--max-num-seqs',
    '1',
    '--max-waiting-requests',
    '1',
    '--max-request-body-bytes',
    '65536',
    '--device',
    'cpu',
  ]);
});
afterAll(async () => {
  await server?.stop();
});

const client = (apiKey: string) =>
  new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0 });

describe('api key', () => {
  it('refuses a missing or wrong key with 401 and accepts the right one', async () => {
    const none = await fetch(`${server.url}/v1/models`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { type: string } }).error.type).toBe(
      'authentication_error',
    );
    await expect(client('wrong').models.list()).rejects.toMatchObject({
      status: 401,
      type: 'authentication_error',
    });
    await expect(
      client(KEY).completions.create({ model: MODEL, prompt: 'Once', max_tokens: 2 }),
    ).resolves.toMatchObject({ object: 'text_completion' });
    const tok = await fetch(`${server.url}/tokenize`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x' }),
    });
    expect(tok.status).toBe(401);
    // health and metrics stay open for probes and scrapers
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  });
});

describe('body size', () => {
  it('answers 413 above --max-request-body-bytes', async () => {
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'a'.repeat(100_000) }),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/larger than the limit of 65536 bytes/);
  });
});

describe('waiting queue bound', () => {
  it('answers 429 when more requests wait than allowed, and serves the waiting one afterwards', async () => {
    const c = client(KEY);
    // long enough that it is still running however slow the machine: it is aborted once the check is done
    const long = {
      model: MODEL,
      prompt: 'Once upon a time',
      max_tokens: 1500,
      ignore_eos: true,
      stream: true,
    } as OpenAI.CompletionCreateParamsStreaming;
    const first = await c.completions.create(long);
    const it1 = first[Symbol.asyncIterator]();
    await it1.next(); // running now: --max-num-seqs 1 is taken
    const second = c.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 2 }); // waits
    // the second request reaches the queue when the server gets to it; poll instead of guessing a delay
    const waiting = /vllm:num_requests_waiting\{[^}]*\} 1\n/;
    let metrics = '';
    for (let i = 0; i < 150 && !waiting.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 100));
      metrics = await (await fetch(`${server.url}/metrics`)).text();
    }
    expect(metrics).toMatch(waiting);
    await expect(
      c.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 2 }),
    ).rejects.toMatchObject({ status: 429, type: 'rate_limit_error' });
    // end the first; the waiting one then runs
    first.controller.abort();
    await expect(second).resolves.toMatchObject({ object: 'text_completion' });
  });
});
