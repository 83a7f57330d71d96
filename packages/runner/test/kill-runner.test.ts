// A runner killed from outside (kill -9) mid-stream: the client's stream must end with an error promptly.
import OpenAI from 'openai';
import { afterAll, expect, it } from 'vitest';
import { STORIES, startServe, type ServeProcess } from './helpers/serve-process.ts';

let server: ServeProcess | undefined;
afterAll(async () => {
  await server?.stop();
});

it('ends the stream with an error within a second of kill -9', async () => {
  server = await startServe([STORIES, '--device', 'cpu']);
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const stream = await client.completions.create({
    model: STORIES,
    prompt: 'Once upon a time',
    max_tokens: 400,
    ignore_eos: true,
    stream: true,
  } as OpenAI.CompletionCreateParamsStreaming);
  let chunks = 0;
  let killedAt = 0;
  const consumed = (async () => {
    for await (const _ of stream) {
      chunks += 1;
      if (chunks === 3) {
        killedAt = Date.now();
        process.kill(server!.proc.pid!, 'SIGKILL');
      }
    }
  })();
  await expect(consumed).rejects.toThrow();
  expect(chunks).toBeGreaterThanOrEqual(3);
  expect(Date.now() - killedAt).toBeLessThan(1000);
});
