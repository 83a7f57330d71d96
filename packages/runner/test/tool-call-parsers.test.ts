// The tool-call parsers (hermes, llama3_json, mistral) and the reasoning parsers (qwen3, deepseek_r1)
// on recorded model outputs: whole, streamed token by token through a real tokenizer (tags split
// across tokens), and malformed; the stream must add up to exactly what the whole output gives.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@pagoda/tokenizer';
import { describe, expect, it } from 'vitest';
import { ChatOutput } from '../src/structured/chat-output.ts';
import { splitReasoning, type ReasoningParserName } from '../src/structured/reasoning-stream.ts';
import { TOOL_CALL_FORMATS } from '../src/structured/tool-formats/index.ts';
import { REPO_ROOT } from './helpers/serve-process.ts';

interface ToolCase {
  name: string;
  text: string;
  content: string;
  calls: Array<[string, Record<string, unknown>]>;
}
interface ReasoningCase {
  parser: ReasoningParserName;
  name: string;
  text: string;
  reasoning: string;
  content: string;
}
const recorded = JSON.parse(
  readFileSync(
    fileURLToPath(new URL('./fixtures/recorded-model-outputs.json', import.meta.url)),
    'utf8',
  ),
) as Record<'hermes' | 'llama3_json' | 'mistral', ToolCase[]> & { reasoning: ReasoningCase[] };

const TOKENIZERS = {
  hermes: 'tiny-qwen3',
  llama3_json: 'tiny-llama3',
  mistral: 'stories260k',
  qwen3: 'tiny-qwen3',
  deepseek_r1: 'tiny-qwen3',
} as const;

/** The text as a server streams it: the decoded difference after each token. */
function tokenDeltas(model: string, text: string): string[] {
  const tok = Tokenizer.fromDir(`${REPO_ROOT}../shared/models/${model}`);
  const ids = tok.encode(text, { addSpecialTokens: false });
  expect(tok.decode(ids)).toBe(text);
  const out: string[] = [];
  let sent = '';
  for (let i = 1; i <= ids.length; i++) {
    const now = tok.decode(ids.slice(0, i));
    if (now.endsWith('\uFFFD') && i < ids.length) continue; // half a character: wait for the rest
    out.push(now.slice(sent.length));
    sent = now;
  }
  return out;
}

/** Everything a ChatOutput sends for these deltas, folded as a client folds the stream. */
function run(output: ChatOutput, deltas: string[]) {
  let content = '';
  let reasoning = '';
  const calls: Array<[string, unknown]> = [];
  const fold = (p: ReturnType<ChatOutput['push']>) => {
    content += p.content;
    reasoning += p.reasoning;
    for (const c of p.toolCalls)
      calls.push([c.function!.name!, JSON.parse(c.function!.arguments!)]);
  };
  for (const d of deltas) fold(output.push(d));
  fold(output.finish());
  return { content, reasoning, calls };
}

for (const parser of ['hermes', 'llama3_json', 'mistral'] as const) {
  describe(`${parser} tool calls`, () => {
    const format = TOOL_CALL_FORMATS[parser];
    it.each(recorded[parser].map((c) => [c.name, c] as const))('%s: whole', (_n, c) => {
      const split = format.split(c.text, true);
      expect(split.content).toBe(c.content);
      expect(split.calls.map((k) => [k.name, JSON.parse(k.arguments)])).toEqual(c.calls);
    });
    it.each(recorded[parser].map((c) => [c.name, c] as const))('%s: token by token', (_n, c) => {
      const deltas = tokenDeltas(TOKENIZERS[parser], c.text);
      expect(deltas.length).toBeGreaterThan(3);
      const got = run(new ChatOutput({ kind: 'auto', format }, null), deltas);
      expect(got.content).toBe(c.content);
      expect(got.calls).toEqual(c.calls);
    });
  });
}

describe('tool calls stream as soon as each is whole', () => {
  it('hermes: the first call is sent before the second one is written', () => {
    const c = recorded.hermes[1]!;
    const output = new ChatOutput({ kind: 'auto', format: TOOL_CALL_FORMATS.hermes }, null);
    const cut = c.text.indexOf('<tool_call>', 5);
    const first = output.push(c.text.slice(0, cut + 3));
    expect(first.toolCalls.map((t) => t.function?.name)).toEqual(['get_weather']);
    expect(first.toolCalls[0]).toMatchObject({ index: 0, type: 'function' });
    const rest = output.push(c.text.slice(cut + 3));
    expect(rest.toolCalls).toMatchObject([{ index: 1, function: { name: 'get_time' } }]);
    expect(output.calledTools).toBe(true);
  });

  it('a partial <tool_call> tag is held back, not sent as content', () => {
    const output = new ChatOutput({ kind: 'auto', format: TOOL_CALL_FORMATS.hermes }, null);
    expect(output.push('Checking.<tool_').content).toBe('Checking.');
    expect(
      output.push('call>\n{"name": "f", "arguments": {}}\n</tool_call>').toolCalls,
    ).toHaveLength(1);
  });

  it('forced calls (tool_choice required / named) are read from the grammar-made JSON at the end', () => {
    const required = new ChatOutput({ kind: 'required' }, null);
    expect(required.push('[{"name":"f","parameters":{"a":1}}').toolCalls).toEqual([]);
    expect(required.push(']').toolCalls).toEqual([]);
    expect(required.finish().toolCalls).toMatchObject([
      { function: { name: 'f', arguments: '{"a":1}' } },
    ]);
    const named = new ChatOutput({ kind: 'named', name: 'g' }, null);
    named.push('{"b":');
    named.push('true}');
    expect(named.finish().toolCalls).toMatchObject([
      { function: { name: 'g', arguments: '{"b":true}' } },
    ]);
    const cut = new ChatOutput({ kind: 'required' }, null);
    cut.push('[{"name":"f","param');
    expect(cut.finish()).toMatchObject({ content: '[{"name":"f","param', toolCalls: [] });
  });
});

describe('reasoning parsers', () => {
  it.each(recorded.reasoning.map((c) => [`${c.parser}: ${c.name}`, c] as const))(
    '%s: whole',
    (_n, c) => {
      expect(splitReasoning(c.parser, c.text)).toEqual({
        reasoning: c.reasoning,
        content: c.content,
      });
    },
  );
  it.each(recorded.reasoning.map((c) => [`${c.parser}: ${c.name}`, c] as const))(
    '%s: token by token',
    (_n, c) => {
      const got = run(
        new ChatOutput({ kind: 'none' }, c.parser),
        tokenDeltas(TOKENIZERS[c.parser], c.text),
      );
      expect(got.reasoning).toBe(c.reasoning);
      expect(got.content).toBe(c.content);
    },
  );
  it('reasoning first, then the tool call parsed from the content', () => {
    const c = recorded.reasoning.find((r) => r.name === 'reasoning then a tool call')!;
    const got = run(
      new ChatOutput({ kind: 'auto', format: TOOL_CALL_FORMATS.hermes }, 'qwen3'),
      tokenDeltas('tiny-qwen3', c.text),
    );
    expect(got.reasoning).toBe('I need the weather.');
    expect(got.content).toBe('\n');
    expect(got.calls).toEqual([['get_weather', { city: 'Rome' }]]);
  });
});
