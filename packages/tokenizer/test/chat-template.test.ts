// Chat templates: the transformers golden renders exactly; template selection, variables and errors.
import { afterAll, describe, expect, it } from 'vitest';
import { ChatTemplateError, Tokenizer, renderChatTemplate } from '../src/index.ts';
import { STORIES_DIR, makeModelDir, readGolden, readStoriesJson, removeModelDirs } from './model-dir.ts';

interface ChatCase {
  template_name: string;
  template: string;
  messages: unknown[];
  add_generation_prompt: boolean;
  bos_token: string;
  rendered: string;
}

const { cases } = readGolden<{ cases: ChatCase[] }>('chat-templates.golden.json');
const stories = Tokenizer.fromDir(STORIES_DIR);
const config = readStoriesJson('tokenizer_config.json');
afterAll(removeModelDirs);

describe('chat template golden', () => {
  it.each(cases.map((c, i) => [`${c.template_name} #${i} (generation prompt: ${c.add_generation_prompt})`, c] as const))(
    'renders %s exactly',
    (_, c) => {
      const specials = { bos: c.bos_token, eos: '</s>', unk: null, pad: null };
      expect(renderChatTemplate(c.template, specials, c.messages, { addGenerationPrompt: c.add_generation_prompt })).toBe(
        c.rendered,
      );
    },
  );

  it('renders the golden through a model folder whose tokenizer_config.json holds the template', () => {
    const c = cases.find((x) => x.template_name === 'llama3' && x.add_generation_prompt)!;
    const tokenizer = Tokenizer.fromDir(makeModelDir({ 'tokenizer_config.json': { ...config, chat_template: c.template } }));
    expect(tokenizer.renderChat(c.messages, { addGenerationPrompt: true })).toBe(c.rendered);
  });
});

describe('chat template selection', () => {
  const chatml = cases.find((c) => c.template_name === 'chatml')!.template;
  const hi = [{ role: 'user', content: 'hi' }];

  it('says how to fix a model without a template', () => {
    expect(() => stories.renderChat(hi)).toThrow('this model has no chat template; pass --chat-template');
  });

  it('uses a template passed in over the model having none', () => {
    expect(stories.renderChat(hi, { template: chatml })).toBe('<|im_start|>user\nhi<|im_end|>\n');
  });

  it('reads chat_template.jinja beside the config', () => {
    const tokenizer = Tokenizer.fromDir(makeModelDir({ 'chat_template.jinja': chatml }));
    expect(tokenizer.renderChat(hi, { addGenerationPrompt: true })).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('picks "default", "tool_use" when tools are given, or a template by name', () => {
    const named = [
      { name: 'default', template: 'D{{ messages|length }}' },
      { name: 'tool_use', template: 'T{{ tools|length }}' },
      { name: 'rag', template: 'R' },
    ];
    const tokenizer = Tokenizer.fromDir(makeModelDir({ 'tokenizer_config.json': { ...config, chat_template: named } }));
    expect(tokenizer.renderChat(hi)).toBe('D1');
    expect(tokenizer.renderChat(hi, { tools: [{ type: 'function' }, { type: 'function' }] })).toBe('T2');
    expect(tokenizer.renderChat(hi, { template: 'rag' })).toBe('R');
  });

  it('says which names exist when none is "default"', () => {
    const tokenizer = Tokenizer.fromDir(
      makeModelDir({ 'tokenizer_config.json': { ...config, chat_template: [{ name: 'rag', template: 'R' }] } }),
    );
    expect(() => tokenizer.renderChat(hi)).toThrow(/named chat templates \(rag\)/);
  });
});

describe('chat template variables', () => {
  it('provides bos_token, eos_token, add_generation_prompt, tools (none when absent) and extra variables', () => {
    const template =
      '{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools is none }}|{{ enable_thinking }}|{{ pad_token is defined }}';
    expect(stories.renderChat([{ role: 'user', content: 'x' }], { template, extraVars: { enable_thinking: false } })).toBe(
      '<s>|</s>|false|true|false|false',
    );
  });

  it('joins text parts into one string, or passes them as parts when asked', () => {
    const messages = [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }];
    const template = '{% for m in messages %}{% if m.content is string %}S:{{ m.content }}{% else %}P:{{ m.content|length }}{% endif %}{% endfor %}';
    expect(stories.renderChat(messages, { template })).toBe('S:a\nb');
    expect(stories.renderChat(messages, { template, contentFormat: 'parts' })).toBe('P:2');
  });

  it('passes extra message fields (tool calls) through to the template', () => {
    const messages = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ function: { name: 'get_weather' } }] },
      { role: 'tool', content: 'sunny', tool_call_id: 'call_1' },
    ];
    const template = '{% for m in messages %}{{ m.role }}:{% if m.tool_calls %}{{ m.tool_calls[0].function.name }}{% else %}{{ m.content }}{% endif %};{% endfor %}';
    expect(stories.renderChat(messages, { template })).toBe('user:weather?;assistant:get_weather;tool:sunny;');
  });
});

describe('chat template errors', () => {
  const template = '{% for m in messages %}{{ m.content }}{% endfor %}';

  it('rejects an unknown role, naming the message', () => {
    expect(() => stories.renderChat([{ role: 'user', content: 'a' }, { role: 'robot', content: 'b' }], { template })).toThrow(
      /messages\.1\.role/,
    );
  });

  it('rejects a non-text content part and an empty chat', () => {
    expect(() => stories.renderChat([{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }], { template })).toThrow(
      ChatTemplateError,
    );
    expect(() => stories.renderChat([], { template })).toThrow(/at least one message/);
  });

  it('reports raise_exception with the template message', () => {
    const raising = "{% if messages[0].role != 'system' %}{{ raise_exception('Conversation must start with a system message') }}{% endif %}";
    expect(() => stories.renderChat([{ role: 'user', content: 'a' }], { template: raising })).toThrow(
      'the chat template failed: Conversation must start with a system message',
    );
  });

  it('reports a template that does not parse', () => {
    expect(() => stories.renderChat([{ role: 'user', content: 'a' }], { template: '{% for m in messages %}' })).toThrow(
      /does not parse/,
    );
  });
});
