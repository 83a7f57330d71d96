// Structured output, tool calls and bad grammars through the official openai client against a real
// `pagoda serve` running the CPU engine on stories260k, a model that never writes JSON by itself:
// every answer here is valid only because the engine's sampler applied xgrammar's token masks.
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  STORIES,
  startServe,
  type ServeProcess,
  PLAIN_CHAT_TEMPLATE,
} from './helpers/serve-process.ts';

const TEMPLATE = PLAIN_CHAT_TEMPLATE;
const MODEL = 'stories';
/** `pagoda serve` on stories260k, the CPU engine, a plain chat template. */
const SERVE_ARGS = [
  STORIES,
  '--served-model-name',
  MODEL,
  '--max-model-len',
  '512',
  '--chat-template',
  TEMPLATE,
  '--device',
  'cpu',
];

let server: ServeProcess;
let client: OpenAI;

beforeAll(async () => {
  server = await startServe(SERVE_ARGS);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server?.stop();
});

const Address = z.object({ city: z.string().max(24), zip: z.string().regex(/^\d{5}$/) });

/** 20 schemas: nested objects, arrays, enums, required fields, bounded numbers, patterned strings. */
const SCHEMAS: Array<[string, z.ZodObject]> = [
  ['person', z.object({ name: z.string(), age: z.number().int().min(0).max(120) })],
  ['nested', z.object({ person: z.object({ name: z.string(), address: Address }) })],
  ['tags', z.object({ tags: z.array(z.string().max(16)).max(3) })],
  ['color', z.object({ color: z.enum(['red', 'green', 'blue']) })],
  ['verdict', z.object({ done: z.boolean(), score: z.number().min(0).max(1) })],
  [
    'items',
    z.object({
      items: z
        .array(z.object({ id: z.number().int().min(1).max(999), label: z.string().max(20) }))
        .min(1)
        .max(3),
    }),
  ],
  ['code', z.object({ code: z.string().regex(/^[A-Z]{3}-\d{3}$/) })],
  ['note', z.object({ note: z.string().max(30).nullable() })],
  ['event', z.object({ kind: z.literal('event'), count: z.number().int().min(0).max(50) })],
  ['value', z.object({ value: z.union([z.string().max(10), z.number()]) })],
  [
    'days',
    z.object({
      days: z
        .array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri']))
        .min(1)
        .max(3),
    }),
  ],
  [
    'weather',
    z.object({ temperature: z.number().min(-50).max(50), sky: z.enum(['clear', 'cloudy']) }),
  ],
  [
    'order_line',
    z.object({
      quantity: z.number().int().min(1).max(99),
      sku: z.string().regex(/^[a-z]{2}\d{4}$/),
    }),
  ],
  ['deep', z.object({ a: z.object({ b: z.object({ c: z.object({ d: z.string().max(12) }) }) }) })],
  ['title', z.object({ title: z.string().min(2).max(12) })],
  [
    'contact',
    z.object({
      first: z.string().max(12),
      last: z.string().max(12),
      email: z.string().regex(/^[a-z]+@[a-z]+\.com$/),
    }),
  ],
  ['point', z.object({ point: z.array(z.number().min(-10).max(10)).min(2).max(4) })],
  [
    'order',
    z.object({
      status: z.enum(['open', 'paid', 'shipped']),
      lines: z
        .array(
          z.object({ sku: z.string().regex(/^[A-Z]\d{2}$/), qty: z.number().int().min(1).max(9) }),
        )
        .max(2),
    }),
  ],
  ['date', z.object({ date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), all_day: z.boolean() })],
  [
    'report',
    z.object({
      ok: z.boolean(),
      errors: z.array(z.string().max(20)).max(2),
      meta: z.object({
        version: z.number().int().min(1).max(9),
        tags: z.array(z.enum(['a', 'b'])).max(2),
      }),
    }),
  ],
];

const ask = (name: string) => [
  { role: 'user' as const, content: `Tell me a story about ${name}.` },
];

describe('response_format json_schema through chat.completions.parse', () => {
  it.each(SCHEMAS)('%s: a parsed object that satisfies the zod schema', async (name, schema) => {
    const res = await client.chat.completions.parse({
      model: MODEL,
      messages: ask(name),
      max_tokens: 200,
      temperature: 0,
      response_format: zodResponseFormat(schema, name),
    });
    const message = res.choices[0]!.message;
    expect(message.parsed).not.toBeNull();
    expect(schema.parse(JSON.parse(message.content!))).toEqual(message.parsed);
  });

  it('streaming reassembles to the same parsed object', async () => {
    for (const [name, schema] of [SCHEMAS[1]!, SCHEMAS[5]!, SCHEMAS[19]!]) {
      const request = {
        model: MODEL,
        messages: ask(name),
        max_tokens: 200,
        temperature: 0,
        response_format: zodResponseFormat(schema, name),
      };
      const whole = await client.chat.completions.parse(request);
      const stream = client.chat.completions.stream(request);
      let deltas = 0;
      stream.on('content.delta', () => deltas++);
      const streamed = await stream.finalChatCompletion();
      expect(deltas).toBeGreaterThan(3);
      expect(streamed.choices[0]!.message.parsed).toEqual(whole.choices[0]!.message.parsed);
    }
  });

  it('sampled (temperature 1, seeded) outputs parse too', async () => {
    const [name, schema] = SCHEMAS[17]!;
    for (const seed of [1, 2, 3]) {
      const res = await client.chat.completions.parse({
        model: MODEL,
        messages: ask(name),
        max_tokens: 150,
        temperature: 1,
        seed,
        response_format: zodResponseFormat(schema, name),
      });
      expect(schema.safeParse(res.choices[0]!.message.parsed).success).toBe(true);
    }
  });
});

describe('json_object', () => {
  it('always parses as a JSON object, even when max_tokens cuts the story short', async () => {
    const prompts = ['a cat', 'the park', 'a red ball', 'Lily and Tom', 'a big tree', 'the sea'];
    for (const [i, p] of prompts.entries()) {
      const res = await client.chat.completions.create({
        model: MODEL,
        messages: ask(p),
        max_tokens: 40 + 30 * i,
        temperature: i % 2,
        seed: i,
        response_format: { type: 'json_object' },
      });
      const parsed: unknown = JSON.parse(res.choices[0]!.message.content!);
      expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
    }
  });
});

describe('vLLM structured outputs', () => {
  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));

  it('guided_regex, guided_choice, structured_outputs.json and .grammar on completions and chat', async () => {
    const regex = await post('/v1/completions', {
      model: MODEL,
      prompt: 'Once upon a time',
      max_tokens: 30,
      guided_regex: '[a-z]{3}-[0-9]{2}',
    });
    expect(regex.body.choices[0].text).toMatch(/^[a-z]{3}-[0-9]{2}$/);
    const choice = await post('/v1/chat/completions', {
      model: MODEL,
      messages: ask('a dog'),
      max_tokens: 10,
      guided_choice: ['happy', 'sad', 'sleepy'],
    });
    expect(['happy', 'sad', 'sleepy']).toContain(choice.body.choices[0].message.content);
    const json = await post('/v1/completions', {
      model: MODEL,
      prompt: 'Once upon a time',
      max_tokens: 100,
      structured_outputs: {
        json: {
          type: 'object',
          properties: { n: { type: 'integer', minimum: 3, maximum: 7 } },
          required: ['n'],
        },
      },
    });
    const n = JSON.parse(json.body.choices[0].text).n;
    expect(n >= 3 && n <= 7).toBe(true);
    const grammar = await post('/v1/chat/completions', {
      model: MODEL,
      messages: ask('a bird'),
      max_tokens: 20,
      structured_outputs: { grammar: 'root ::= ("yes" | "no") " " [0-9]' },
    });
    expect(grammar.body.choices[0].message.content).toMatch(/^(yes|no) [0-9]$/);
  });

  it('logit_bias steers the choice: +100 on a token makes greedy take it', async () => {
    const res = await post('/v1/completions', {
      model: MODEL,
      prompt: 'Once upon a time',
      max_tokens: 3,
      temperature: 0,
      logit_bias: { '400': 100 },
      logprobs: 0,
    });
    expect(res.status).toBe(200);
    const plain = await post('/v1/completions', {
      model: MODEL,
      prompt: 'Once upon a time',
      max_tokens: 3,
      temperature: 0,
    });
    expect(res.body.choices[0].text).not.toBe(plain.body.choices[0].text);
    const tokens = await post('/tokenize', {
      model: MODEL,
      prompt: res.body.choices[0].text,
      add_special_tokens: false,
    });
    expect(tokens.body.tokens.every((t: number) => t === 400)).toBe(true);
  });
});

describe('prompt logprobs (echo with logprobs)', () => {
  it('scores the prompt: at the generated tokens it repeats what generation reported', async () => {
    const prompt = [1, 403, 407, 261, 1247 % 512, 289];
    const gen = await client.completions.create({
      model: MODEL,
      prompt,
      max_tokens: 8,
      temperature: 0,
      logprobs: 2,
    });
    const generatedIds = (
      await (
        await fetch(`${server.url}/tokenize`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            model: MODEL,
            prompt: gen.choices[0]!.text,
            add_special_tokens: false,
          }),
        })
      ).json()
    ).tokens as number[];
    const scored = [...prompt, ...generatedIds];
    const echo = await client.completions.create({
      model: MODEL,
      prompt: scored,
      max_tokens: 1,
      temperature: 0,
      echo: true,
      logprobs: 2,
    });
    const lp = echo.choices[0]!.logprobs!;
    expect(lp.tokens!.length).toBe(scored.length + 1);
    expect(lp.token_logprobs![0]).toBeNull();
    expect(lp.top_logprobs![0]).toBeNull();
    expect(echo.choices[0]!.text).toContain(gen.choices[0]!.text.trim());
    // re-tokenizing this generated text gives back its 8 tokens, so position by position the
    // prompt scores are the generation's logprobs
    const genLp = gen.choices[0]!.logprobs!;
    expect(generatedIds.length).toBe(genLp.tokens!.length);
    for (let k = 0; k < generatedIds.length; k++)
      expect(lp.token_logprobs![prompt.length + k]!).toBeCloseTo(genLp.token_logprobs![k]!, 4);
    for (const v of lp.token_logprobs!.slice(1)) expect(v!).toBeLessThanOrEqual(0);
  });
});

const Weather = z.object({ city: z.string().max(20), days: z.number().int().min(1).max(7) });
const Alarm = z.object({ time: z.string().regex(/^\d{2}:\d{2}$/), label: z.string().max(16) });
const TOOLS = [
  zodFunction({ name: 'get_weather', parameters: Weather, description: 'Weather forecast' }),
  zodFunction({ name: 'set_alarm', parameters: Alarm }),
];

describe('tools', () => {
  it('tool_choice "required" returns tool calls whose arguments validate against the tool', async () => {
    const res = await client.chat.completions.parse({
      model: MODEL,
      messages: ask('the weather'),
      max_tokens: 200,
      temperature: 0,
      tools: TOOLS,
      tool_choice: 'required',
    });
    const choice = res.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    const calls = choice.message.tool_calls!;
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call.type).toBe('function');
      if (call.type !== 'function') continue;
      const schema = call.function.name === 'get_weather' ? Weather : Alarm;
      expect(['get_weather', 'set_alarm']).toContain(call.function.name);
      expect(schema.parse(JSON.parse(call.function.arguments))).toEqual(
        call.function.parsed_arguments,
      );
      expect(call.id).toMatch(/^chatcmpl-tool-/);
    }
  });

  it('a named tool_choice calls exactly that function; parallel_tool_calls false gives one call', async () => {
    const named = await client.chat.completions.parse({
      model: MODEL,
      messages: ask('an alarm'),
      max_tokens: 120,
      temperature: 0,
      tools: TOOLS,
      tool_choice: { type: 'function', function: { name: 'set_alarm' } },
    });
    const calls = named.choices[0]!.message.tool_calls!;
    expect(calls).toHaveLength(1);
    expect(calls[0]!.type === 'function' && calls[0]!.function.name).toBe('set_alarm');
    expect(
      Alarm.safeParse(calls[0]!.type === 'function' && calls[0]!.function.parsed_arguments).success,
    ).toBe(true);
    const single = await client.chat.completions.create({
      model: MODEL,
      messages: ask('rain'),
      max_tokens: 200,
      temperature: 1,
      seed: 5,
      tools: TOOLS,
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    expect(single.choices[0]!.message.tool_calls).toHaveLength(1);
  });

  it('streamed tool calls reassemble to the same calls', async () => {
    const request = {
      model: MODEL,
      messages: ask('the weather'),
      max_tokens: 200,
      temperature: 0,
      tools: TOOLS,
      tool_choice: 'required' as const,
    };
    const whole = await client.chat.completions.parse(request);
    const streamed = await client.chat.completions.stream(request).finalChatCompletion();
    const shape = (c: typeof whole) =>
      c.choices[0]!.message.tool_calls!.map((t) =>
        t.type === 'function' ? [t.function.name, t.function.arguments] : null,
      );
    expect(shape(streamed)).toEqual(shape(whole));
    expect(streamed.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('assistant tool_calls (arguments as objects) and tool results render through the chat template, with the tools', async () => {
    const template = [
      '{% if tools %}tools:{% for t in tools %} {{ t.function.name }}{% endfor %}\n{% endif %}',
      '{% for m in messages %}',
      "{% if m.role == 'assistant' and m.tool_calls %}assistant calls:{% for c in m.tool_calls %} {{ c.function.name }}({{ c.function.arguments.city }}){% endfor %}\n",
      "{% elif m.role == 'tool' %}tool {{ m.tool_call_id }}: {{ m.content }}\n",
      '{% else %}{{ m.role }}: {{ m.content }}\n{% endif %}{% endfor %}',
    ].join('');
    const call = {
      id: 'call_1',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' },
    };
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<Record<string, any>>);
    const tokenized = await post('/tokenize', {
      model: MODEL,
      chat_template: template,
      add_generation_prompt: false,
      tools: TOOLS,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'call_1', content: '18 degrees' },
      ],
    });
    const text = (await post('/detokenize', { model: MODEL, tokens: tokenized.tokens }))
      .prompt as string;
    expect(text).toContain('tools: get_weather set_alarm');
    expect(text).toContain('assistant calls: get_weather(Paris)');
    expect(text).toContain('tool call_1: 18 degrees');
  });

  it('tool_choice "auto" needs --enable-auto-tool-choice and --tool-call-parser: 400 on tool_choice', async () => {
    await expect(
      client.chat.completions.create({ model: MODEL, messages: ask('x'), tools: TOOLS }),
    ).rejects.toMatchObject({ status: 400, param: 'tool_choice' });
  });
});

describe('bad grammars: 400 naming the field, nothing started', () => {
  const promptTokens = async (): Promise<number> => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('vllm:prompt_tokens_total'));
    return Number(line?.split(' ').pop() ?? NaN);
  };
  const cases: Array<[string, Record<string, unknown>, string]> = [
    [
      'an invalid JSON schema',
      {
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'x',
            schema: { type: 'object', properties: { a: { type: 'strnig' } } },
          },
        },
      },
      'response_format.json_schema.schema.properties.a.type',
    ],
    [
      'an unsupported schema feature',
      {
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'x', schema: { type: 'object', if: { required: ['a'] } } },
        },
      },
      'response_format.json_schema.schema.if',
    ],
    ['a regex that does not compile', { guided_regex: '([a-z]+' }, 'guided_regex'],
    ['guided_json that is not JSON', { guided_json: '{"type": ' }, 'guided_json'],
    [
      'tools with a malformed parameters schema',
      {
        tools: [
          {
            type: 'function',
            function: {
              name: 'f',
              parameters: {
                type: 'object',
                properties: { n: { type: 'integer', minimum: 'one' } },
              },
            },
          },
        ],
        tool_choice: 'required',
      },
      'tools.0.function.parameters.properties.n.minimum',
    ],
    [
      'two constraints at once',
      { guided_regex: 'a+', response_format: { type: 'json_object' } },
      'guided_regex',
    ],
    [
      'a named tool that is not among the tools',
      { tools: [TOOLS[0]], tool_choice: { type: 'function', function: { name: 'nope' } } },
      'tool_choice.function.name',
    ],
  ];
  it.each(cases)('%s', async (_what, extra, param) => {
    const before = await promptTokens();
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: ask('x'), max_tokens: 5, ...extra }),
    });
    const body = (await res.json()) as { error: { message: string; param: string; type: string } };
    expect(res.status).toBe(400);
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.param).toBe(param);
    expect(body.error.message).toContain(param);
    expect(body.error.message).not.toMatch(/\/[\w-]+\/[\w-]+\.(cc|ts|js)/); // no source paths
    expect(await promptTokens()).toBe(before);
  });
});

describe('a server with --tool-call-parser hermes --enable-auto-tool-choice --reasoning-parser qwen3', () => {
  // stories260k never writes these formats itself: a grammar makes it write them, and the parsers
  // must turn that text into reasoning_content and tool_calls, whole and streamed.
  let parsing: ServeProcess;
  let parsingClient: OpenAI;
  beforeAll(async () => {
    parsing = await startServe([
      ...SERVE_ARGS,
      '--tool-call-parser',
      'hermes',
      '--enable-auto-tool-choice',
      '--reasoning-parser',
      'qwen3',
    ]);
    parsingClient = new OpenAI({ baseURL: `${parsing.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await parsing?.stop();
  });

  const grammar = [
    'root ::= "<think>" [a-z ]{1,40} "</think>" "\\n<tool_call>\\n" call "\\n</tool_call>"',
    'call ::= "{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"" [a-z]{1,12} "\\", \\"days\\": " [1-7] "}}"',
  ].join('\n');
  const request = {
    model: MODEL,
    messages: ask('the weather'),
    max_tokens: 300,
    temperature: 0,
    tools: TOOLS,
    structured_outputs: { grammar },
  };

  it('tool_choice auto: reasoning_content, then tool_calls parsed from the <tool_call> block', async () => {
    const res = (await parsingClient.chat.completions.create(
      request as never,
    )) as OpenAI.ChatCompletion & { choices: Array<{ message: { reasoning_content?: string } }> };
    const message = res.choices[0]!.message;
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(message.reasoning_content).toMatch(/^[a-z ]+$/);
    expect(message.content).toBeNull();
    const call = message.tool_calls![0]!;
    expect(call.type === 'function' && call.function.name).toBe('get_weather');
    expect(
      Weather.parse(JSON.parse(call.type === 'function' ? call.function.arguments : '')),
    ).toBeTruthy();
  });

  it('streamed: reasoning and the call arrive as deltas that reassemble to the same message', async () => {
    const whole = await parsingClient.chat.completions.create(request as never);
    const stream = await parsingClient.chat.completions.create({
      ...(request as object),
      stream: true,
    } as never);
    let reasoning = '';
    let reasoningDeltas = 0;
    const calls: Array<{ name: string; args: string }> = [];
    for await (const chunk of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) {
      const delta = chunk.choices[0]?.delta as {
        reasoning_content?: string;
      } & OpenAI.ChatCompletionChunk['choices'][0]['delta'];
      if (delta?.reasoning_content) {
        reasoning += delta.reasoning_content;
        reasoningDeltas++;
      }
      for (const t of delta?.tool_calls ?? []) {
        if (t.function?.name) calls[t.index] = { name: t.function.name, args: '' };
        calls[t.index]!.args += t.function?.arguments ?? '';
      }
    }
    expect(reasoningDeltas).toBeGreaterThan(1);
    const m = (whole as OpenAI.ChatCompletion).choices[0]!
      .message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(reasoning).toBe(m.reasoning_content);
    const wholeCall = m.tool_calls![0]!;
    expect(calls).toEqual([
      {
        name: 'get_weather',
        args: wholeCall.type === 'function' ? wholeCall.function.arguments : '',
      },
    ]);
  });

  it("the thinking also goes out as vLLM's newer `reasoning`; include_reasoning false leaves it out", async () => {
    const thinking = {
      model: MODEL,
      messages: ask('a frog'),
      max_tokens: 40,
      temperature: 0,
      structured_outputs: { grammar: 'root ::= "<think>" [a-z ]+ "</think>" [a-z ]+' },
    };
    type Message = { content: string | null; reasoning?: string; reasoning_content?: string };
    const messageOf = async (extra: object) =>
      ((await parsingClient.chat.completions.create({ ...thinking, ...extra } as never)) as OpenAI.ChatCompletion)
        .choices[0]!.message as unknown as Message;
    const both = await messageOf({});
    expect(both.reasoning_content).toMatch(/^[a-z ]+$/);
    expect(both.reasoning).toBe(both.reasoning_content);
    const left = await messageOf({ include_reasoning: false });
    expect(left.reasoning).toBeUndefined();
    expect(left.reasoning_content).toBeUndefined();
    expect(left.content).toBe(both.content);
    // an earlier turn's `reasoning` is taken as its reasoning_content
    expect(
      (await messageOf({ messages: [...ask('a frog'), { role: 'assistant', content: 'ok', reasoning: 'hm' }, { role: 'user', content: 'more' }] })).content,
    ).not.toBeNull();
  });

  it('enable_thinking false: no reasoning is parsed, the think block stays in the text', async () => {
    const res = await parsingClient.chat.completions.create({
      model: MODEL,
      messages: ask('a frog'),
      max_tokens: 40,
      temperature: 0,
      structured_outputs: { grammar: 'root ::= "<think>" [a-z ]+ "</think>" [a-z ]+' },
      chat_template_kwargs: { enable_thinking: false },
    } as never);
    const message = (res as OpenAI.ChatCompletion).choices[0]!
      .message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(message.reasoning_content).toBeUndefined();
    expect(message.content).toMatch(/^<think>/);
  });
});
