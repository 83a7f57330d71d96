// vLLM's --generation-config: a checkpoint's generation_config.json sets the sampling a request
// leaves out (here greedy and 7 tokens); "vllm" ignores it; --override-generation-config goes on top;
// a request's own fields always win.
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationDefaults } from '../src/backends/generation-defaults.ts';
import { STORIES, startServe, storiesGolden, type ServeProcess } from './helpers/serve-process.ts';

const once = storiesGolden().cases[0]!;
let dir: string;
const servers: ServeProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pagoda-genconfig-'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
    symlinkSync(join(STORIES, f), join(dir, f));
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: 1, eos_token_id: 2, do_sample: true, temperature: 0, top_p: 0.9, max_new_tokens: 7 }),
  );
});
afterAll(async () => {
  for (const s of servers) await s.stop();
});

async function serve(...flags: string[]): Promise<ServeProcess> {
  const s = await startServe([dir, '--served-model-name', 'm', '--device', 'cpu', '--max-model-len', '64', ...flags]);
  servers.push(s);
  return s;
}

async function complete(s: ServeProcess, body: object) {
  const res = await fetch(`${s.url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'm', prompt: once.prompt_text, ignore_eos: true, ...body }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { choices: Array<{ text: string }>; usage: { completion_tokens: number } };
}

describe('generation config', () => {
  it("the model's generation_config.json fills what a request leaves out; the request's fields win", async () => {
    const s = await serve();
    const plain = await complete(s, {});
    expect(plain.usage.completion_tokens).toBe(7);
    expect(once.greedy_text.startsWith(plain.choices[0]!.text)).toBe(true);
    expect((await complete(s, {})).choices[0]!.text).toBe(plain.choices[0]!.text);
    expect((await complete(s, { max_tokens: 3 })).usage.completion_tokens).toBe(3);
    // temperature 1 samples: over several seeds some output leaves the greedy path
    const sampled = await Promise.all([1, 2, 3, 4].map((seed) => complete(s, { temperature: 1, seed })));
    expect(sampled.some((r) => r.choices[0]!.text !== plain.choices[0]!.text)).toBe(true);
  });

  it('"vllm" ignores it; --override-generation-config sets fields over it', async () => {
    const ignored = await serve('--generation-config', 'vllm');
    expect((await complete(ignored, { temperature: 0 })).usage.completion_tokens).toBe(64 - once.prompt_ids.length);
    const over = await serve('--override-generation-config', '{"max_new_tokens": 4}');
    const r = await complete(over, {});
    expect(r.usage.completion_tokens).toBe(4);
    expect(once.greedy_text.startsWith(r.choices[0]!.text)).toBe(true);
  });

  it('reads only the fields vLLM reads, and names a bad one', () => {
    expect(generationDefaults('auto', dir)).toEqual({ temperature: 0, top_p: 0.9, max_tokens: 7 });
    expect(generationDefaults('vllm', dir)).toEqual({});
    expect(generationDefaults('auto', dir, { top_k: 5 })).toMatchObject({ top_k: 5, temperature: 0 });
    expect(generationDefaults('auto', join(dir, 'nowhere'))).toEqual({});
    expect(() => generationDefaults(join(dir, 'nowhere'), dir)).toThrow(/no generation_config.json/);
    expect(() => generationDefaults('auto', dir, { do_sample: false })).toThrow(/'do_sample' is not one of/);
    expect(() => generationDefaults('auto', dir, { temperature: 'hot' })).toThrow(/temperature must be a number/);
  });
});
