// The official openai client, unmodified, against a real `pagoda serve` child process running the CPU
// engine on stories260k: every request shape of issue 5 and every bad-input status.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  STORIES,
  startServe,
  type ServeProcess,
  storiesGolden,
  goldenPromptLogprobs,
  PLAIN_CHAT_TEMPLATE,
} from './helpers/serve-process.ts';

const TEMPLATE = PLAIN_CHAT_TEMPLATE;
const golden = storiesGolden();
const once = golden.cases[0]!; // 'Once upon a time': no near-ties in its 64 greedy tokens
const MODEL = 'stories';

let server: ServeProcess;
let client: OpenAI;

beforeAll(async () => {
  server = await startServe([
    STORIES,
    '--served-model-name',
    MODEL,
    '--max-model-len',
    '256',
    '--chat-template',
    TEMPLATE,
    '--device',
    'cpu',
  ]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server?.stop();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as {
      error: { message: string; type: string; param: string | null };
    } & Record<string, unknown>,
  };
}

describe('completions', () => {
  it('greedy output matches the transformers golden text, and usage matches the token counts', async () => {
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 24,
      temperature: 0,
    });
    const choice = res.choices[0]!;
    expect(once.greedy_text.startsWith(choice.text)).toBe(true);
    expect(choice.text.length).toBeGreaterThan(40);
    expect(choice.finish_reason).toBe('length');
    expect(res.usage).toMatchObject({
      prompt_tokens: once.prompt_ids.length,
      completion_tokens: 24,
      total_tokens: once.prompt_ids.length + 24,
    });
    expect(res.model).toBe(MODEL);
    expect(res.object).toBe('text_completion');
  });

  it('streams the same text, with usage when asked', async () => {
    const stream = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 24,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      for (const c of chunk.choices) {
        text += c.text;
        finish = c.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(5);
    expect(once.greedy_text.startsWith(text)).toBe(true);
    expect(text.length).toBeGreaterThan(40);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ prompt_tokens: once.prompt_ids.length, completion_tokens: 24 });
  });

  it('takes token ids and lists of prompts', async () => {
    const byIds = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_ids,
      max_tokens: 8,
      temperature: 0,
    });
    const byText = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 8,
      temperature: 0,
    });
    expect(byIds.choices[0]!.text).toBe(byText.choices[0]!.text);
    const two = await client.completions.create({
      model: MODEL,
      prompt: [once.prompt_text, golden.cases[1]!.prompt_text],
      max_tokens: 8,
      temperature: 0,
    });
    expect(two.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(two.choices[0]!.text).toBe(byText.choices[0]!.text);
    expect(two.usage!.prompt_tokens).toBe(
      once.prompt_ids.length + golden.cases[1]!.prompt_ids.length,
    );
    expect(two.usage!.completion_tokens).toBe(16);
  });

  it('n = 2 gives two outputs whose tokens add up in usage', async () => {
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 12,
      temperature: 1,
      seed: 7,
      n: 2,
    });
    expect(res.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(res.choices[0]!.text).not.toBe(res.choices[1]!.text);
    expect(res.usage!.completion_tokens).toBe(24);
    const streamed = new Map<number, string>();
    for await (const chunk of await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 12,
      temperature: 1,
      seed: 7,
      n: 2,
      stream: true,
    })) {
      for (const c of chunk.choices) streamed.set(c.index, (streamed.get(c.index) ?? '') + c.text);
    }
    expect([...streamed.keys()].sort()).toEqual([0, 1]);
  });

  it('stops at a stop string, with and without it in the output', async () => {
    const base = (
      await client.completions.create({
        model: MODEL,
        prompt: once.prompt_text,
        max_tokens: 40,
        temperature: 0,
      })
    ).choices[0]!.text;
    const stop = ' little girl';
    const at = base.indexOf(stop);
    expect(at).toBeGreaterThan(0);
    const cut = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 40,
      temperature: 0,
      stop: [stop, 'zzz'],
    });
    expect(cut.choices[0]!.text).toBe(base.slice(0, at));
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    expect((cut.choices[0] as unknown as { stop_reason: string }).stop_reason).toBe(stop);
    const kept = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 40,
      temperature: 0,
      stop,
      include_stop_str_in_output: true,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(kept.choices[0]!.text).toBe(base.slice(0, at + stop.length));
    let streamed = '';
    for await (const chunk of await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 40,
      temperature: 0,
      stop,
      stream: true,
    })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    expect(streamed).toBe(base.slice(0, at));
    // The tokens generated up to the stop are counted, not the 40 asked for.
    expect(cut.usage!.completion_tokens).toBeLessThan(40);
  });

  it('stops at a stop token id and reports it', async () => {
    const third = once.greedy_ids[2]!;
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 40,
      temperature: 0,
      stop_token_ids: [third],
    } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect((res.choices[0] as unknown as { stop_reason: number }).stop_reason).toBe(third);
    expect(res.usage!.completion_tokens).toBe(3);
  });

  it('returns logprobs in OpenAI shape that match the golden log-softmax', async () => {
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 10,
      temperature: 0,
      logprobs: 3,
    });
    const lp = res.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(10);
    expect(lp.tokens!.join('')).toBe(res.choices[0]!.text);
    lp.token_logprobs!.forEach((v, i) => expect(v).toBeCloseTo(once.greedy_logprobs[i]!, 3));
    for (const [i, top] of lp.top_logprobs!.entries()) {
      expect(Object.keys(top).length).toBeGreaterThanOrEqual(3);
      expect(Math.max(...Object.values(top))).toBeCloseTo(lp.token_logprobs![i]!, 5);
    }
    expect(lp.text_offset![1]).toBe(lp.tokens![0]!.length);
  });

  it('echoes the prompt', async () => {
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 5,
      temperature: 0,
      echo: true,
    });
    expect(res.choices[0]!.text.startsWith(`${once.prompt_text},`)).toBe(true);
  });

  it("scores the prompt with vLLM's prompt_logprobs: logprob, rank and top tokens as transformers", async () => {
    const dog = golden.cases[1]!; // 'The little dog ran to the park and': ranks up to 24
    type Entry = Record<string, { logprob: number; rank: number; decoded_token: string }>;
    const { status, body } = await post('/v1/completions', {
      model: MODEL,
      prompt: dog.prompt_ids,
      max_tokens: 3,
      temperature: 0,
      n: 2,
      prompt_logprobs: 3,
    });
    expect(status).toBe(200);
    const choices = body.choices as Array<{ prompt_logprobs: Array<Entry | null> }>;
    expect(choices).toHaveLength(2);
    const scored = choices[0]!.prompt_logprobs;
    expect(choices[1]!.prompt_logprobs).toEqual(scored);
    expect(scored).toHaveLength(dog.prompt_ids.length);
    expect(scored[0]).toBeNull();
    const want = goldenPromptLogprobs(dog);
    for (let i = 1; i < dog.prompt_ids.length; i++) {
      const row = want[i - 1]!;
      const id = dog.prompt_ids[i]!;
      const order = [...row.keys()].sort((a, b) => row[b]! - row[a]!);
      const entry = scored[i]!;
      expect(entry[id]!.logprob).toBeCloseTo(row[id]!, 4);
      expect(entry[id]!.rank).toBe(row.filter((x) => x > row[id]!).length + 1);
      for (const [k, top] of order.slice(0, 3).entries()) {
        expect(entry[top]!.rank).toBe(k + 1);
        expect(entry[top]!.logprob).toBeCloseTo(row[top]!, 4);
      }
      // the prompt's own token and the top three, nothing else
      expect(Object.keys(entry).length).toBe(order.slice(0, 3).includes(id) ? 3 : 4);
    }
    // the prompt's ranks are not all 1: the check above can tell a rank from a constant
    expect(scored.slice(1).some((e, i) => e![dog.prompt_ids[i + 1]!]!.rank > 1)).toBe(true);
    // echo with logprobs beside it keeps its own shape and agrees on the prompt
    const echoed = await client.completions.create({
      model: MODEL,
      prompt: dog.prompt_ids,
      max_tokens: 2,
      temperature: 0,
      echo: true,
      logprobs: 1,
      prompt_logprobs: 0,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    const lp = echoed.choices[0]!.logprobs!;
    const zero = (echoed.choices[0] as unknown as { prompt_logprobs: Array<Entry | null> }).prompt_logprobs;
    expect(lp.tokens!.length).toBe(dog.prompt_ids.length + 2);
    for (let i = 1; i < dog.prompt_ids.length; i++) {
      expect(Object.keys(zero[i]!)).toEqual([String(dog.prompt_ids[i])]);
      expect(lp.token_logprobs![i]).toBeCloseTo(zero[i]![dog.prompt_ids[i]!]!.logprob, 6);
      // the token text as the logprobs of completions spell it
      expect(zero[i]![dog.prompt_ids[i]!]!.decoded_token).toBe(lp.tokens![i]);
    }
  });

  it("vLLM's allowed_token_ids, bad_words and return_tokens_as_token_ids", async () => {
    const ask = (extra: object) =>
      client.completions.create({
        model: MODEL,
        prompt: once.prompt_text,
        max_tokens: 8,
        temperature: 0,
        ...extra,
      } as OpenAI.CompletionCreateParamsNonStreaming);
    const allowed = await ask({ allowed_token_ids: [100, 200, 300], logprobs: 2, return_tokens_as_token_ids: true });
    const tokens = allowed.choices[0]!.logprobs!.tokens!;
    expect(tokens).toHaveLength(8);
    for (const t of tokens) expect(['token_id:100', 'token_id:200', 'token_id:300']).toContain(t);
    for (const top of allowed.choices[0]!.logprobs!.top_logprobs!)
      for (const key of Object.keys(top!)) expect(key).toMatch(/^token_id:\d+$/);
    // the golden continuation has "little" in its first words: barred, it does not come
    const plain = (await ask({ max_tokens: 12 })).choices[0]!.text;
    expect(plain).toContain(' little');
    const barred = (await ask({ max_tokens: 12, bad_words: ['little', 'Lily'] })).choices[0]!.text;
    expect(barred).not.toMatch(/little|Lily/);
    expect(barred.startsWith(', there was a')).toBe(true);
  });

  it("vLLM's return_token_ids: the prompt's ids and the generated ones, whole and streamed", async () => {
    const ask = { model: MODEL, prompt: once.prompt_text, max_tokens: 8, temperature: 0, return_token_ids: true };
    const whole = await post('/v1/completions', ask);
    const choice = (whole.body.choices as Array<{ prompt_token_ids: number[]; token_ids: number[] }>)[0]!;
    expect(choice.prompt_token_ids).toEqual(once.prompt_ids);
    expect(choice.token_ids).toEqual(once.greedy_ids.slice(0, 8));
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...ask, stream: true }),
    });
    const chunks = (await res.text())
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)) as { choices: Array<{ prompt_token_ids?: number[]; token_ids?: number[] }> });
    const choices = chunks.flatMap((c) => c.choices);
    expect(choices[0]!.prompt_token_ids).toEqual(once.prompt_ids);
    expect(choices.slice(1).some((c) => c.prompt_token_ids)).toBe(false);
    expect(choices.flatMap((c) => c.token_ids ?? [])).toEqual(once.greedy_ids.slice(0, 8));
    const chat = await post('/v1/chat/completions', {
      model: MODEL,
      messages: [{ role: 'user', content: once.prompt_text }],
      max_tokens: 5,
      return_token_ids: true,
    });
    const usage = chat.body.usage as { prompt_tokens: number; completion_tokens: number };
    expect((chat.body.prompt_token_ids as number[]).length).toBe(usage.prompt_tokens);
    expect((chat.body.choices as Array<{ token_ids: number[] }>)[0]!.token_ids).toHaveLength(usage.completion_tokens);
    const plain = await post('/v1/completions', { ...ask, return_token_ids: undefined });
    expect((plain.body.choices as Array<Record<string, unknown>>)[0]).not.toHaveProperty('token_ids');
  });

  it("vLLM's truncate_prompt_tokens keeps the prompt's last tokens", async () => {
    const junk = [400, 401, 402, 403, 404, 405, 406, 407, 408, 409];
    const long = [...junk, ...junk, ...once.prompt_ids];
    const res = await client.completions.create({
      model: MODEL,
      prompt: long,
      max_tokens: 16,
      temperature: 0,
      truncate_prompt_tokens: once.prompt_ids.length,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(res.usage!.prompt_tokens).toBe(once.prompt_ids.length);
    expect(res.choices[0]!.text).toBe(once.greedy_text.slice(0, res.choices[0]!.text.length));
    expect(res.choices[0]!.text.length).toBeGreaterThan(20);
    // a text longer than the context is served when only its end is kept
    const chat = await post('/v1/chat/completions', {
      model: MODEL,
      messages: [{ role: 'user', content: 'Once upon a time '.repeat(200) }],
      max_tokens: 4,
      truncate_prompt_tokens: 100,
    });
    expect(chat.status).toBe(200);
    expect((chat.body.usage as { prompt_tokens: number }).prompt_tokens).toBe(100);
    for (const keep of [0, 257, -2]) {
      const bad = await post('/v1/completions', {
        model: MODEL,
        prompt: 'Once',
        max_tokens: 2,
        truncate_prompt_tokens: keep,
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error.param).toBe('truncate_prompt_tokens');
    }
    const outside = await post('/v1/completions', {
      model: MODEL,
      prompt: 'Once',
      max_tokens: 2,
      allowed_token_ids: [5, 100000],
    });
    expect(outside.status).toBe(400);
    expect(outside.body.error.param).toBe('allowed_token_ids');
    const many = await post('/v1/completions', {
      model: MODEL,
      prompt: 'Once',
      max_tokens: 2,
      bad_words: Array.from({ length: 1025 }, (_, i) => `w${i}`),
    });
    expect(many.status).toBe(400);
    expect(many.body.error.param).toBe('bad_words');
  });

  it('the same seed gives the same sample; another seed another', async () => {
    const ask = (seed: number) =>
      client.completions.create({
        model: MODEL,
        prompt: once.prompt_text,
        max_tokens: 32,
        temperature: 1,
        top_p: 0.95,
        seed,
      });
    const [a, b, c] = await Promise.all([ask(1234), ask(1234), ask(99)]);
    expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
    expect(a.choices[0]!.text).not.toBe(c.choices[0]!.text);
  });

  it('ignore_eos and min_tokens produce exactly the tokens asked for', async () => {
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 150,
      temperature: 0,
      ignore_eos: true,
      min_tokens: 150,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(res.usage!.completion_tokens).toBe(150);
    expect(res.choices[0]!.finish_reason).toBe('length');
  });
});

describe('chat completions', () => {
  it("puts the counts so far on every chunk with vLLM's continuous_usage_stats", async () => {
    const body = (continuous: boolean) =>
      JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: once.prompt_text }],
        max_tokens: 6,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: continuous },
      });
    const chunksOf = async (continuous: boolean) => {
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body(continuous),
      });
      const text = await res.text();
      return text
        .split('\n')
        .filter((l) => l.startsWith('data: {'))
        .map(
          (l) =>
            JSON.parse(l.slice(6)) as { choices: unknown[]; usage?: OpenAI.CompletionUsage | null },
        );
    };
    const every = await chunksOf(true);
    expect(every.every((c) => c.usage != null)).toBe(true);
    const counts = every.map((c) => c.usage!.completion_tokens);
    expect(counts[0]).toBe(0); // the role chunk comes before any token
    expect(counts.at(-1)).toBe(6);
    expect(counts.every((n, i) => i === 0 || n >= counts[i - 1]!)).toBe(true);
    expect(new Set(every.map((c) => c.usage!.prompt_tokens)).size).toBe(1);
    // without it only the last chunk (no choices) has usage
    const last = await chunksOf(false);
    expect(last.filter((c) => c.usage != null).map((c) => c.choices.length)).toEqual([0]);
  });

  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'user', content: 'Tell me a story about a dog.' },
  ];

  it('answers prompt_logprobs once, beside the choices, for the templated prompt', async () => {
    const { status, body } = await post('/v1/chat/completions', {
      model: MODEL,
      messages: [{ role: 'user', content: once.prompt_text }],
      max_tokens: 4,
      temperature: 0,
      n: 2,
      prompt_logprobs: 1,
    });
    expect(status).toBe(200);
    const scored = body.prompt_logprobs as Array<Record<string, { logprob: number; rank: number }> | null>;
    const usage = body.usage as { prompt_tokens: number };
    expect(scored).toHaveLength(usage.prompt_tokens);
    expect(scored[0]).toBeNull();
    for (const entry of scored.slice(1)) {
      const ranks = Object.values(entry!).map((e) => e.rank);
      expect(ranks).toContain(1);
      for (const e of Object.values(entry!)) expect(e.logprob).toBeLessThanOrEqual(0);
    }
    expect((body.choices as Array<Record<string, unknown>>)[0]!.prompt_logprobs).toBeUndefined();
    const plain = await post('/v1/chat/completions', {
      model: MODEL,
      messages: [{ role: 'user', content: once.prompt_text }],
      max_tokens: 4,
      temperature: 0,
    });
    expect(plain.body.prompt_logprobs).toBeUndefined();
  });

  it('refuses prompt_logprobs on a stream (0 is accepted and dropped, as vLLM) and above 20', async () => {
    const ask = (extra: object) =>
      post('/v1/chat/completions', {
        model: MODEL,
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 2,
        ...extra,
      });
    const streamed = await ask({ stream: true, prompt_logprobs: 2 });
    expect(streamed.status).toBe(400);
    expect(streamed.body.error.param).toBe('prompt_logprobs');
    expect(streamed.body.error.message).toMatch(/not available when stream is true/);
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'Hi', max_tokens: 2, stream: true, prompt_logprobs: 0 }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).not.toMatch(/prompt_logprobs/);
    const many = await ask({ prompt_logprobs: 21 });
    expect(many.status).toBe(400);
    expect(many.body.error.param).toBe('prompt_logprobs');
  });

  it("gives the template vLLM's documents and OpenAI's reasoning_effort as variables", async () => {
    const template =
      '{% for d in documents or [] %}[{{ d.title }}: {{ d.text }}] {% endfor %}{{ reasoning_effort or "" }}{% for m in messages %}{{ m.content }}{% endfor %}';
    const promptTokens = async (extra: object) => {
      const res = await post('/v1/chat/completions', {
        model: MODEL,
        messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 1,
        chat_template: template,
        ...extra,
      });
      expect(res.status).toBe(200);
      return (res.body.usage as { prompt_tokens: number }).prompt_tokens;
    };
    const tokens = async (text: string) =>
      ((await post('/tokenize', { model: MODEL, prompt: text, add_special_tokens: false })).body as unknown as { count: number }).count;
    const plain = await promptTokens({});
    expect(plain).toBe(await tokens('Once upon a time'));
    const withDocs = await promptTokens({ documents: [{ title: 'Cat', text: 'The cat sat.' }] });
    expect(withDocs).toBe(await tokens('[Cat: The cat sat.] Once upon a time'));
    expect(await promptTokens({ reasoning_effort: 'high' })).toBe(await tokens('highOnce upon a time'));
  });

  it('answers, with usage equal to the tokenized chat', async () => {
    const res = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_completion_tokens: 20,
      temperature: 0,
    });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0]!.message.role).toBe('assistant');
    expect(res.choices[0]!.message.content!.length).toBeGreaterThan(10);
    const tok = (await post('/tokenize', { messages })).body as unknown as { count: number };
    expect(res.usage).toMatchObject({
      prompt_tokens: tok.count,
      completion_tokens: 20,
      total_tokens: tok.count + 20,
    });
  });

  it('streams the same content as the non-streamed reply', async () => {
    const whole = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 20,
      temperature: 0,
    });
    let content = '';
    let role: string | undefined;
    for await (const chunk of await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 20,
      temperature: 0,
      stream: true,
    })) {
      role ??= chunk.choices[0]?.delta.role;
      content += chunk.choices[0]?.delta.content ?? '';
    }
    expect(role).toBe('assistant');
    expect(content).toBe(whole.choices[0]!.message.content);
  });

  it('n = 2, logprobs with top_logprobs, and seeds', async () => {
    const res = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 8,
      temperature: 1,
      seed: 3,
      n: 2,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(res.choices).toHaveLength(2);
    for (const c of res.choices) {
      const content = c.logprobs!.content!;
      expect(content).toHaveLength(8);
      expect(content.map((t) => t.token).join('')).toBe(c.message.content);
      for (const t of content) {
        expect(t.top_logprobs).toHaveLength(2);
        expect(t.bytes).toEqual([...Buffer.from(t.token)]);
      }
    }
    const again = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 8,
      temperature: 1,
      seed: 3,
      n: 2,
    });
    expect(again.choices.map((c) => c.message.content)).toEqual(
      res.choices.map((c) => c.message.content),
    );
  });

  it('stops at a stop string', async () => {
    const base = (
      await client.chat.completions.create({
        model: MODEL,
        messages,
        max_tokens: 30,
        temperature: 0,
      })
    ).choices[0]!.message.content!;
    const stop = base.slice(10, 14);
    const res = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 30,
      temperature: 0,
      stop,
    });
    expect(res.choices[0]!.message.content).toBe(base.slice(0, base.indexOf(stop)));
    expect(res.choices[0]!.finish_reason).toBe('stop');
  });
});

describe("SageMaker's /ping and /invocations, as vLLM serves them", () => {
  it('answers /invocations as the route its body is for, and /ping as /health', async () => {
    expect((await fetch(`${server.url}/ping`)).status).toBe(200);
    expect((await fetch(`${server.url}/ping`, { method: 'POST' })).status).toBe(200);
    const ask = { model: MODEL, max_tokens: 6, temperature: 0 };
    const viaCompletions = await post('/v1/completions', { ...ask, prompt: once.prompt_text });
    const completion = await post('/invocations', { ...ask, prompt: once.prompt_text });
    expect(completion.status).toBe(200);
    expect(completion.body.object).toBe('text_completion');
    expect((completion.body.choices as Array<{ text: string }>)[0]!.text).toBe(
      (viaCompletions.body.choices as Array<{ text: string }>)[0]!.text,
    );
    const chat = await post('/invocations', { ...ask, messages: [{ role: 'user', content: 'Hi' }] });
    expect(chat.status).toBe(200);
    expect(chat.body.object).toBe('chat.completion');
    const unknown = await post('/invocations', { model: MODEL, what: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/cannot tell which API/);
    // a bad body for the route it names is that route's own 400
    const bad = await post('/invocations', { model: MODEL, prompt: 'x', max_tokens: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('max_tokens');
  });
});

describe('tokenize, detokenize, models, health, version, metrics', () => {
  it('tokenizes as transformers does and detokenizes back', async () => {
    const tok = (await post('/tokenize', { model: MODEL, prompt: once.prompt_text }))
      .body as unknown as { tokens: number[]; count: number; max_model_len: number };
    expect(tok).toEqual({
      tokens: once.prompt_ids,
      count: once.prompt_ids.length,
      max_model_len: 256,
    });
    const detok = (
      await post('/detokenize', { model: MODEL, tokens: once.greedy_ids.slice(0, 12) })
    ).body as unknown as { prompt: string };
    expect(once.greedy_text.trimStart().startsWith(detok.prompt.trimStart())).toBe(true);
    expect(detok.prompt.length).toBeGreaterThan(10);
  });

  it('lists the served model and answers health and version', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL]);
    expect((models.data[0] as unknown as { max_model_len: number }).max_model_len).toBe(256);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect(
      ((await (await fetch(`${server.url}/version`)).json()) as { version: string }).version,
    ).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exposes vLLM metric names in Prometheus text', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of [
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:kv_cache_usage_perc',
      'vllm:prefix_cache_queries',
      'vllm:prefix_cache_hits',
      'vllm:num_preemptions_total',
      'vllm:prompt_tokens_total',
      'vllm:generation_tokens_total',
      'vllm:request_success_total',
      'vllm:time_to_first_token_seconds_bucket',
      'vllm:inter_token_latency_seconds_bucket',
      'vllm:e2e_request_latency_seconds_bucket',
      'vllm:request_queue_time_seconds_bucket',
    ]) {
      expect(text).toContain(`${name}`);
    }
    expect(text).toMatch(
      /vllm:request_success_total\{model_name="stories",finished_reason="length"\} [1-9]/,
    );
    // Pagoda's engine step counters; the CPU backend has no device busy time to report.
    expect(text).toMatch(/pagoda:engine_steps_total\{model_name="stories"\} [1-9]/);
    const stepSeconds = /pagoda:engine_step_seconds_total\{model_name="stories"\} (\S+)/.exec(text);
    expect(Number(stepSeconds?.[1])).toBeGreaterThan(0);
    expect(text).not.toContain('pagoda:engine_device_busy_seconds');
    expect(text).not.toContain('pagoda:engine_device_timed_step_seconds');
    // It samples on the host, so no step goes ahead of the one before.
    expect(text).toMatch(/pagoda:engine_steps_launched_ahead_total\{model_name="stories"\} 0$/m);
  });
});

describe('bad input', () => {
  const cases: Array<[string, string, unknown, number, string, RegExp]> = [
    [
      'unknown parameter',
      '/v1/completions',
      { prompt: 'x', frobnicate: 1 },
      400,
      'invalid_request_error',
      /unknown parameter 'frobnicate'/,
    ],
    [
      'temperature out of range',
      '/v1/completions',
      { prompt: 'x', temperature: -1 },
      400,
      'invalid_request_error',
      /temperature/,
    ],
    ['no prompt', '/v1/completions', { max_tokens: 3 }, 400, 'invalid_request_error', /prompt/],
    [
      'prompt over the context',
      '/v1/completions',
      { prompt: 'Once upon a time', max_tokens: 1000 },
      400,
      'invalid_request_error',
      /maximum context length is 256 tokens.*1005 tokens/,
    ],
    [
      'token id outside the vocabulary',
      '/v1/completions',
      { prompt: [1, 99999], max_tokens: 3 },
      400,
      'invalid_request_error',
      /token id 99999 is outside the vocabulary/,
    ],
    [
      'empty messages',
      '/v1/chat/completions',
      { messages: [] },
      400,
      'invalid_request_error',
      /messages/,
    ],
    [
      'chat over the context',
      '/v1/chat/completions',
      { messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 300 },
      400,
      'invalid_request_error',
      /maximum context length is 256/,
    ],
    [
      'unknown chat parameter',
      '/v1/chat/completions',
      { messages: [{ role: 'user', content: 'hi' }], functions: [] },
      400,
      'invalid_request_error',
      /unknown parameter 'functions'/,
    ],
    [
      'unknown model',
      '/v1/completions',
      { model: 'gpt-4', prompt: 'x' },
      404,
      'not_found_error',
      /The model 'gpt-4' does not exist/,
    ],
    [
      'unknown model on tokenize',
      '/tokenize',
      { model: 'gpt-4', prompt: 'x' },
      404,
      'not_found_error',
      /does not exist/,
    ],
    [
      'detokenize outside the vocabulary',
      '/detokenize',
      { tokens: [100000] },
      400,
      'invalid_request_error',
      /outside the vocabulary/,
    ],
    ['not JSON', '/v1/completions', '{"prompt": ', 400, 'invalid_request_error', /not valid JSON/],
    [
      'unknown route',
      '/v1/audio/speech',
      { input: 'x' },
      404,
      'not_found_error',
      /no route POST \/v1\/audio\/speech/,
    ],
  ];
  it.each(cases)('%s', async (_name, path, body, status, type, message) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    expect(res.body.error.type).toBe(type);
    expect(res.body.error.message).toMatch(message);
  });

  it('the openai client sees typed errors', async () => {
    await expect(client.completions.create({ model: 'nope', prompt: 'x' })).rejects.toMatchObject({
      status: 404,
      type: 'not_found_error',
    });
    await expect(
      client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 5000 }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});
