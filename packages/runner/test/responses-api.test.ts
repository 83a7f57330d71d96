// The Responses API (POST /v1/responses) through the official openai client against a real
// `pagoda serve` on stories260k: the same tokens as the chat it translates to, whole and as typed
// events, function calls out and back in, text.format, and its refusals.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAIN_CHAT_TEMPLATE, STORIES, startServe, type ServeProcess } from './helpers/serve-process.ts';

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
    PLAIN_CHAT_TEMPLATE,
    '--device',
    'cpu',
  ]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server?.stop();
});

const WEATHER = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  strict: true,
  parameters: {
    type: 'object',
    properties: { city: { type: 'string', enum: ['Paris', 'Rome'] } },
    required: ['city'],
    additionalProperties: false,
  },
};

describe('responses API', () => {
  it('answers what the chat it stands for answers: text, usage, incomplete at max_output_tokens', async () => {
    const res = await client.responses.create({
      model: MODEL,
      instructions: 'Tell a story.',
      input: 'Once upon a time',
      max_output_tokens: 12,
      temperature: 0,
    });
    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Tell a story.' },
        { role: 'user', content: 'Once upon a time' },
      ],
      max_tokens: 12,
      temperature: 0,
    });
    expect(res.id).toMatch(/^resp_/);
    expect(res.object).toBe('response');
    expect(res.model).toBe(MODEL);
    expect(res.output_text).toBe(chat.choices[0]!.message.content);
    expect(res.output_text.length).toBeGreaterThan(5);
    expect(res.status).toBe('incomplete');
    expect(res.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(res.usage).toMatchObject({
      input_tokens: chat.usage!.prompt_tokens,
      output_tokens: 12,
      total_tokens: chat.usage!.prompt_tokens + 12,
    });
    expect(res.output).toHaveLength(1);
    expect(res.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'incomplete' });
  });

  it('streams typed events in order whose deltas add up to the whole answer', async () => {
    const ask = { model: MODEL, input: 'Once upon a time', max_output_tokens: 10, temperature: 0 };
    const whole = await client.responses.create(ask);
    const events: Array<{ type: string; sequence_number: number; delta?: string }> = [];
    for await (const e of await client.responses.create({ ...ask, stream: true }))
      events.push(e as (typeof events)[number]);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.incomplete',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.map((e) => e.delta).join('')).toBe(whole.output_text);
    const last = events.at(-1) as unknown as { response: OpenAI.Responses.Response };
    expect(last.response.output).toEqual(whole.output.map((o) => ({ ...o, id: (last.response.output[0] as { id: string }).id })));
    expect(last.response.usage).toMatchObject({
      input_tokens: whole.usage!.input_tokens,
      output_tokens: whole.usage!.output_tokens,
    });
  });

  it('a forced function call comes out as a function_call item, and its output goes back in', async () => {
    const res = await client.responses.create({
      model: MODEL,
      input: 'What is the weather in Paris?',
      tools: [WEATHER],
      tool_choice: { type: 'function', name: 'get_weather' },
      max_output_tokens: 40,
    });
    const call = res.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toBeDefined();
    expect(call.name).toBe('get_weather');
    expect(call.call_id.length).toBeGreaterThan(0);
    expect(['Paris', 'Rome']).toContain(JSON.parse(call.arguments).city);
    const events: string[] = [];
    for await (const e of await client.responses.create({
      model: MODEL,
      input: 'What is the weather in Rome?',
      tools: [WEATHER],
      tool_choice: 'required',
      max_output_tokens: 120,
      stream: true,
    }))
      events.push(e.type);
    expect(events).toContain('response.function_call_arguments.delta');
    expect(events).toContain('response.function_call_arguments.done');
    const next = await client.responses.create({
      model: MODEL,
      input: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '{"sky": "sunny"}' },
      ],
      tools: [WEATHER],
      tool_choice: 'none',
      max_output_tokens: 5,
      temperature: 0,
    });
    expect(next.output[0]!.type).toBe('message');
    expect(next.usage!.input_tokens).toBeGreaterThan(res.usage!.input_tokens);
  });

  it('include message.output_text.logprobs carries the chat logprobs on the text part and its deltas', async () => {
    const ask = { model: MODEL, input: 'Once upon a time', max_output_tokens: 6, temperature: 0 };
    const res = await client.responses.create({ ...ask, include: ['message.output_text.logprobs'], top_logprobs: 2 });
    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Once upon a time' }],
      max_tokens: 6,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    const part = (res.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText;
    const want = chat.choices[0]!.logprobs!.content!;
    expect(part.logprobs!.map((l) => l.token)).toEqual(want.map((l) => l.token));
    for (const [i, l] of part.logprobs!.entries()) {
      expect(l.logprob).toBeCloseTo(want[i]!.logprob, 4);
      expect(l.top_logprobs.map((t) => t.token)).toEqual(want[i]!.top_logprobs.map((t) => t.token));
    }
    let streamed = 0;
    for await (const e of await client.responses.create({ ...ask, top_logprobs: 1, stream: true, prompt_cache_key: 'k' }))
      if (e.type === 'response.output_text.delta') streamed += e.logprobs.length;
    expect(streamed).toBe(6);
    const plain = await client.responses.create(ask);
    expect((plain.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0]).not.toHaveProperty('logprobs');
  });

  it('text.format json_schema constrains the output text', async () => {
    const res = await client.responses.create({
      model: MODEL,
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'A number' }] }],
      max_output_tokens: 60,
      text: {
        format: {
          type: 'json_schema',
          name: 'n',
          strict: true,
          schema: {
            type: 'object',
            properties: { n: { type: 'integer', minimum: 3, maximum: 7 } },
            required: ['n'],
            additionalProperties: false,
          },
        },
      },
    });
    const n = JSON.parse(res.output_text).n;
    expect(n >= 3 && n <= 7).toBe(true);
    expect(res.text?.format?.type).toBe('json_schema');
  });

  it('refuses what it cannot do with a 400 naming the field, and changes nothing', async () => {
    const refuse = async (body: object, param: string, message: RegExp) => {
      const res = await fetch(`${server.url}/v1/responses`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: MODEL, input: 'Hi', ...body }),
      });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { param: string; message: string } };
      expect(error.param).toBe(param);
      expect(error.message).toMatch(message);
    };
    await refuse({ previous_response_id: 'resp_1' }, 'previous_response_id', /not stored/);
    await refuse(
      { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] },
      'input.0.content.0.type',
      /input_image/,
    );
    await refuse({ tool_choice: 'required' }, 'tool_choice', /needs tools/);
    await refuse({ prompt: 'x' }, 'prompt', /prompt/);
    await refuse({ max_output_tokens: 5000 }, 'max_output_tokens', /context/);
  });
});
