// Interrupted streams on the real engine, with a model slow enough to interrupt (random weights through
// load_format dummy): a client that leaves aborts its request and frees its KV blocks; a runner killed
// with kill -9 ends the client's stream with an error promptly, not a hang.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSlowModel, startServe, type ServeProcess } from './helpers/serve-process.ts';

const MODEL = 'slow';
let config: string;
const servers: ServeProcess[] = [];

beforeAll(() => {
  config = `${makeSlowModel()}/config.json`;
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function serve(): Promise<{ server: ServeProcess; client: OpenAI }> {
  const server = await startServe([
    config,
    '--load-format',
    'dummy',
    '--served-model-name',
    MODEL,
    '--device',
    'cpu',
    '--max-model-len',
    '1024',
  ]);
  servers.push(server);
  return {
    server,
    client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 }),
  };
}

const longRequest = {
  model: MODEL,
  prompt: 'Once upon a time',
  max_tokens: 800,
  ignore_eos: true,
  stream: true,
} as OpenAI.CompletionCreateParamsStreaming;

describe('a client that goes away', () => {
  it('aborts its request in the engine and frees its KV blocks', async () => {
    const { server, client } = await serve();
    const metric = async (name: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
      return Number(line?.slice(line.lastIndexOf(' ') + 1));
    };
    const controller = new AbortController();
    const stream = await client.completions.create(longRequest, { signal: controller.signal });
    let seen = 0;
    const consumed = (async () => {
      for await (const _ of stream) {
        if (++seen === 3) {
          // while it runs, the engine holds its blocks
          expect(await metric('vllm:num_requests_running')).toBe(1);
          expect(await metric('vllm:kv_cache_usage_perc')).toBeGreaterThan(0);
          controller.abort();
        }
      }
    })();
    // the openai client ends an aborted stream quietly; what matters is the server side
    await consumed.catch(() => {});
    expect(seen).toBeLessThan(800);
    const deadline = Date.now() + 2000;
    while (
      Date.now() < deadline &&
      ((await metric('vllm:num_requests_running')) !== 0 ||
        (await metric('vllm:kv_cache_usage_perc')) !== 0)
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await metric('vllm:num_requests_running')).toBe(0);
    expect(await metric('vllm:kv_cache_usage_perc')).toBe(0);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(
      /vllm:request_success_total\{model_name="slow",finished_reason="abort"\} 1/,
    );
  });
});

describe('a runner killed from outside', () => {
  it('ends the client stream with an error within a second of kill -9', async () => {
    const { server, client } = await serve();
    const stream = await client.completions.create(longRequest);
    let chunks = 0;
    let killedAt = 0;
    const consumed = (async () => {
      for await (const _ of stream) {
        chunks += 1;
        if (chunks === 3) {
          killedAt = Date.now();
          process.kill(server.proc.pid!, 'SIGKILL');
        }
      }
    })();
    await expect(consumed).rejects.toThrow();
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect(chunks).toBeLessThan(800);
  });
});
