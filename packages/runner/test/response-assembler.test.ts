// Chat chunks into Responses output items: reasoning, then the message, then function calls, each
// opened and closed once, with events whose deltas rebuild what the final object holds.
import { ResponsesRequestSchema, type ChatCompletionChunk } from '@pagoda/protocol';
import { describe, expect, it } from 'vitest';
import { ResponseAssembler } from '../src/responses/response-assembler.ts';
import { chatRequestOf } from '../src/responses/to-chat.ts';

const chunk = (
  delta: ChatCompletionChunk['choices'][number]['delta'],
  finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
): ChatCompletionChunk => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 0,
  model: 'm',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

describe('response assembler', () => {
  it('reasoning, text and two tool calls become four items, each told by its events', () => {
    const a = new ResponseAssembler({ input: 'x' }, 'resp_1', 'm');
    const events = [...a.start()];
    for (const c of [
      chunk({ role: 'assistant', reasoning_content: 'Let me ' }),
      chunk({ reasoning_content: 'think.' }),
      chunk({ content: 'Calling ' }),
      chunk({ content: 'tools.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"x":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }] }, 'tool_calls'),
      { ...chunk({}), choices: [], usage: { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14 } },
    ])
      events.push(...a.add(c));
    events.push(...a.finish());
    const r = a.result();
    expect(r.status).toBe('completed');
    expect(r.usage).toMatchObject({ input_tokens: 5, output_tokens: 9, total_tokens: 14 });
    expect(r.output.map((o) => o.type)).toEqual(['reasoning', 'message', 'function_call', 'function_call']);
    expect(r.output[0]).toMatchObject({ content: [{ type: 'reasoning_text', text: 'Let me think.' }] });
    expect(r.output[1]).toMatchObject({ status: 'completed', content: [{ type: 'output_text', text: 'Calling tools.' }] });
    expect(r.output[2]).toMatchObject({ call_id: 'call_a', name: 'f', arguments: '{"x":1}' });
    expect(r.output[3]).toMatchObject({ call_id: 'call_b', name: 'g', arguments: '{}' });
    const count = (type: string) => events.filter((e) => e.type === type).length;
    expect(count('response.output_item.added')).toBe(4);
    expect(count('response.output_item.done')).toBe(4);
    expect(events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta).join('')).toBe('{"x":1}{}');
    // every item is closed before the next opens
    let open = 0;
    for (const e of events) {
      if (e.type === 'response.output_item.added') open += 1;
      if (e.type === 'response.output_item.done') open -= 1;
      expect(open === 0 || open === 1).toBe(true);
    }
    expect(events.at(-1)!.type).toBe('response.completed');
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
  });
});

describe('responses request as a chat', () => {
  it('instructions, items, tools, format and reasoning effort become their chat fields', () => {
    const chat = chatRequestOf(ResponsesRequestSchema.parse({
      input: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'input_text', text: 'Weather' }, { type: 'input_text', text: '?' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'sunny' },
        { type: 'reasoning', id: 'rs_1', summary: [] },
      ],
      instructions: 'You are kind.',
      max_output_tokens: 9,
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
      tool_choice: { type: 'function', name: 'f' },
      text: { format: { type: 'json_schema', name: 'x', schema: { type: 'object' } } },
      reasoning: { effort: 'high' },
    }));
    expect(chat.messages[2]).toEqual({ role: 'user', content: 'Weather?' });
    expect(chat.messages.map((m) => m.role)).toEqual(['system', 'system', 'user', 'assistant', 'tool']);
    expect(chat.messages[3]!.tool_calls!.map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(chat.messages[4]).toMatchObject({ tool_call_id: 'c1', content: 'sunny' });
    expect(chat).toMatchObject({
      max_tokens: 9,
      tool_choice: { type: 'function', function: { name: 'f' } },
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } },
      reasoning_effort: 'high',
      stream_options: { include_usage: true },
    });
  });
});
