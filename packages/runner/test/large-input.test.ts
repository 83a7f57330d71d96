// Large input on a real `pagoda serve` (CPU engine, stories260k, 512-token context): a prompt that
// cannot fit is refused from its byte length before it is tokenized (tokenizing 2 MB here takes ~35 s
// of blocked event loop), in completions and chat; a request chat_template that loops a million
// times is refused at once; and in each case the runner answers the next request normally. A long
// text that must be tokenized (/tokenize has no context limit) is encoded off the event loop: health
// checks and other streams are answered meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORIES, startServe, type ServeProcess } from './helpers/serve-process.ts';

let server: ServeProcess;

beforeAll(async () => {
  server = await startServe([STORIES, '--served-model-name', 'stories', '--device', 'cpu']);
});
afterAll(async () => {
  await server?.stop();
});

async function post(path: string, body: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error: { message: string; param: string | null; type: string } } };
}

const twoMegabytes = 'Once upon a time there was a little girl. '.repeat(50_000);

describe('input too large for the context', () => {
  it('refuses a 2 MB completions prompt from its byte length, before tokenizing it', async () => {
    const res = await post('/v1/completions', { model: 'stories', prompt: twoMegabytes, max_tokens: 4 });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request_error');
    expect(res.body.error.param).toBe('prompt');
    expect(res.body.error.message).toMatch(/maximum context length is 512 tokens\. However, the prompt is 2100000 bytes, which is at least \d+ tokens/);
  });

  it('refuses a chat whose rendered messages are 2 MB, and a list of such prompts', async () => {
    const chat = await post('/v1/chat/completions', {
      model: 'stories',
      messages: [{ role: 'user', content: twoMegabytes }],
      chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}',
    });
    expect(chat.status).toBe(400);
    expect(chat.body.error.param).toBe('messages');
    expect(chat.body.error.message).toMatch(/the messages are 2100000 bytes, which is at least \d+ tokens/);
    const batch = await post('/v1/completions', { model: 'stories', prompt: ['Once upon a time', twoMegabytes], max_tokens: 4 });
    expect(batch.status).toBe(400);
    expect(batch.body.error.message).toMatch(/at least \d+ tokens/);
  });

  it('still takes a prompt that fits, right after', async () => {
    const res = await post('/v1/completions', { model: 'stories', prompt: 'Once upon a time', max_tokens: 4 });
    expect(res.status).toBe(200);
  });
});

describe('request chat templates', () => {
  it('refuses a template that loops a million times with a 400 naming the bound', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'stories',
      messages: [{ role: 'user', content: 'hi' }],
      chat_template: '{% for i in range(1000000) %}x{% endfor %}',
      max_tokens: 2,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('messages');
    expect(res.body.error.message).toMatch(/range\(\) of 1000000 items is more than the 100000/);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });
});

describe('tokenizing a long text', () => {
  it('leaves the event loop to other requests: /health and a whole stream finish while 100 kB is tokenized', async () => {
    const order: string[] = [];
    const tokenize = fetch(`${server.url}/tokenize`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'stories', prompt: 'Once upon a time there was a little girl. '.repeat(2_500) }),
    }).then(async (res) => {
      const body = (await res.json()) as { count: number };
      order.push(`tokenize ${res.status} ${body.count > 20_000}`);
    });
    await new Promise((r) => setTimeout(r, 200)); // the tokenize request is in
    const health = await fetch(`${server.url}/health`);
    order.push(`health ${health.status}`);
    const stream = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'stories', prompt: 'Once upon a time', max_tokens: 32, ignore_eos: true, stream: true }),
    });
    const text = await stream.text();
    order.push(`stream ${stream.status} ${text.endsWith('data: [DONE]\n\n')}`);
    await tokenize;
    // in place, the tokenizing (seconds) would hold both back until it ended
    expect(order).toEqual(['health 200', 'stream 200 true', 'tokenize 200 true']);
  });
});
