// llama.cpp for real (node-llama-cpp's prebuilt CPU binary) on stories260k converted to GGUF by our own
// converter: greedy tokens equal the transformers golden, and `pagoda serve model.gguf` answers the
// official openai client as the builtin engine does (chat, completions, streaming, sampling, stop
// strings, usage, /metrics, errors).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GenerateDelta } from '@pagoda/engine';
import { convertLlamaToGguf } from '@pagoda/gguf';
import { Tokenizer } from '@pagoda/tokenizer';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaEngine } from '../src/backends/llama-engine.ts';
import {
  STORIES,
  startServe,
  type ServeProcess,
  storiesGolden,
  goldenPromptLogprobs,
  PLAIN_CHAT_TEMPLATE,
} from './helpers/serve-process.ts';
import { storiesGguf } from './helpers/stories-gguf.ts';

const TEMPLATE = PLAIN_CHAT_TEMPLATE;
const golden = storiesGolden();
const hf = Tokenizer.fromDir(STORIES);

async function collect(stream: AsyncIterable<GenerateDelta>): Promise<number[]> {
  const ids: number[] = [];
  for await (const d of stream) ids.push(...d.token_ids);
  return ids;
}

describe('llama.cpp on tiny-llama3 (Llama 3.1 rope scaling) converted to GGUF', () => {
  // The llama3 rope_scaling reaches llama.cpp only as rope_freqs.weight: without it every logit moves.
  const dir = join(STORIES, '..', 'tiny-llama3');
  const llama3 = JSON.parse(
    readFileSync(join(STORIES, '../../fixtures/golden/tiny-llama3.golden.json'), 'utf8'),
  ) as ReturnType<typeof storiesGolden>;
  let engine: LlamaEngine;
  beforeAll(async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'pagoda-gguf-')), 'tiny-llama3-f32.gguf');
    convertLlamaToGguf({ dir, out, outtype: 'f32', name: 'tiny-llama3' });
    engine = await LlamaEngine.load({
      modelPath: out,
      gpuLayers: 0,
      maxModelLen: 512,
      maxNumSeqs: 1,
      threads: 1,
      kvCacheType: 'F32',
      vocabSize: 512,
    });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('greedy tokens and their logprobs equal transformers for every golden prompt', async () => {
    for (const c of llama3.cases) {
      const ids: number[] = [];
      const lps: number[] = [];
      for await (const d of engine.generate(
        c.prompt_ids,
        { max_tokens: c.greedy_ids.length, temperature: 0, ignore_eos: true, logprobs: 0 },
        {},
      )) {
        ids.push(...d.token_ids);
        lps.push(...(d.logprobs ?? []).map((l) => l.logprob));
      }
      expect(ids, c.prompt_text).toEqual(c.greedy_ids);
      for (const [i, lp] of lps.entries())
        expect(Math.abs(lp - c.greedy_logprobs[i]!), `${c.prompt_text} @${i}`).toBeLessThan(1e-3);
    }
  });
});

describe('llama.cpp on the converted stories260k GGUF', () => {
  let engine: LlamaEngine;
  beforeAll(async () => {
    engine = await LlamaEngine.load({
      modelPath: storiesGguf('f32'),
      gpuLayers: 0,
      maxModelLen: 512,
      maxNumSeqs: 2,
      threads: 1,
      kvCacheType: 'F32',
      vocabSize: 512,
    });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('greedy tokens of every golden prompt equal transformers', async () => {
    for (const c of golden.cases) {
      const ids = await collect(
        engine.generate(
          c.prompt_ids,
          { max_tokens: c.greedy_ids.length, temperature: 0, ignore_eos: true, logprobs: 0 },
          {},
        ),
      );
      expect(ids, c.prompt_text).toEqual(c.greedy_ids);
    }
  });

  it('logprobs of the chosen tokens are within 1e-3 of transformers', async () => {
    const c = golden.cases[0]!;
    const lps: number[] = [];
    for await (const d of engine.generate(
      c.prompt_ids,
      { max_tokens: 16, temperature: 0, logprobs: 1 },
      {},
    ))
      lps.push(...(d.logprobs ?? []).map((l) => l.logprob));
    expect(lps).toHaveLength(16);
    for (const [i, lp] of lps.entries())
      expect(Math.abs(lp - c.greedy_logprobs[i]!)).toBeLessThan(1e-3);
  });

  it('scores the prompt (prompt_logprobs): logprob, rank and top tokens as transformers', async () => {
    for (const c of golden.cases.slice(1, 3)) {
      const want = goldenPromptLogprobs(c);
      // a second run reuses nothing: the sequence's cached prefix has no logits to score
      for (let run = 0; run < 2; run++) {
        const scored: NonNullable<GenerateDelta['prompt_logprobs']> = [];
        const ids: number[] = [];
        for await (const d of engine.generate(
          c.prompt_ids,
          { max_tokens: 3, temperature: 0, ignore_eos: true, prompt_logprobs: 2 },
          {},
        )) {
          scored.push(...(d.prompt_logprobs ?? []));
          ids.push(...d.token_ids);
        }
        expect(ids).toEqual(c.greedy_ids.slice(0, 3));
        expect(scored).toHaveLength(c.prompt_ids.length - 1);
        for (const [i, lp] of scored.entries()) {
          const row = want[i]!;
          const id = c.prompt_ids[i + 1]!;
          expect(Math.abs(lp.logprob - row[id]!), `${c.prompt_text} @${i}`).toBeLessThan(1e-3);
          expect(lp.rank).toBe(row.filter((x) => x > row[id]!).length + 1);
          const order = [...row.keys()].sort((a, b) => row[b]! - row[a]!);
          expect(lp.top.map((t) => t.token_id)).toEqual(order.slice(0, 2));
        }
      }
    }
  });

  it('logit_bias moves the logits, and min_tokens holds back the end of text', async () => {
    const c = golden.cases[0]!;
    const run = async (params: Parameters<LlamaEngine['generate']>[1]) => {
      const ids: number[] = [];
      let finish: string | undefined;
      for await (const d of engine.generate(c.prompt_ids, { temperature: 0, ...params }, {})) {
        ids.push(...d.token_ids);
        finish = d.finish_reason ?? finish;
      }
      return { ids, finish };
    };
    expect((await run({ max_tokens: 6, logit_bias: [[100, 100]] })).ids).toEqual(Array(6).fill(100));
    // EOS (2) pushed to the top ends the output at once, unless min_tokens holds it back
    expect(await run({ max_tokens: 20, logit_bias: [[2, 100]] })).toEqual({ ids: [2], finish: 'stop' });
    const held = await run({ max_tokens: 20, min_tokens: 5, logit_bias: [[2, 100]] });
    expect(held.ids).toHaveLength(6);
    expect(held.ids.slice(0, 5)).not.toContain(2);
    expect(held).toMatchObject({ finish: 'stop' });
  });

  it("follows a structured-output constraint's masks, and releases it", async () => {
    const words = Math.ceil(512 / 32);
    const maskOf = (tokens: number[]) => {
      const m = new Int32Array(words);
      for (const t of tokens) m[t >> 5]! |= 1 << (t & 31);
      return m;
    };
    const seen: number[][] = [];
    let released = 0;
    const constraint = {
      nextMask(_index: number, accepted: readonly number[]) {
        seen.push([...accepted]);
        // three tokens from {100, 200, 300}, then only the end of text
        return Promise.resolve(seen.length <= 3 ? maskOf([100, 200, 300]) : maskOf([2]));
      },
      release: () => (released += 1),
    };
    const ids: number[] = [];
    let finish: string | undefined;
    for await (const d of engine.generate(
      golden.cases[0]!.prompt_ids,
      { max_tokens: 20, temperature: 0.8, seed: 7, constrained: true },
      { constraint },
    )) {
      ids.push(...d.token_ids);
      finish = d.finish_reason ?? finish;
    }
    expect(ids).toHaveLength(4);
    for (const t of ids.slice(0, 3)) expect([100, 200, 300]).toContain(t);
    expect(ids[3]).toBe(2);
    expect(finish).toBe('stop');
    expect(seen.slice(1)).toEqual(ids.slice(0, 3).map((t) => [t]));
    expect(released).toBe(1);
  });

  it("logprobs are the model's own at any temperature, as vLLM's are", async () => {
    const c = golden.cases[0]!;
    for (const temperature of [0.5, 1.5]) {
      let first: NonNullable<GenerateDelta['logprobs']>[number] | undefined;
      for await (const d of engine.generate(c.prompt_ids, { max_tokens: 1, temperature, seed: 3, logprobs: 2 }, {}))
        first ??= d.logprobs?.[0];
      // the first position's distribution is the golden's whatever was drawn from it
      const top = first!.top;
      expect(top[0]!.token_id).toBe(c.greedy_ids[0]);
      expect(Math.abs(top[0]!.logprob - c.greedy_logprobs[0]!), `temperature ${temperature}`).toBeLessThan(1e-3);
    }
  });

  it('the tokenizer read from the GGUF encodes every golden prompt as transformers does', async () => {
    const { GgufTokenizer } = await import('../src/backends/gguf-tokenizer.ts');
    const { readGgufHeader } = await import('@pagoda/gguf');
    const tok = new GgufTokenizer(engine.model, readGgufHeader(storiesGguf('f32')));
    for (const c of golden.cases) expect(tok.encode(c.prompt_text)).toEqual(c.prompt_ids);
    expect(tok.vocabSize).toBe(512);
    expect(tok.idToToken(1)).toBe('<s>');
  });
});

describe('pagoda serve model.gguf', () => {
  let server: ServeProcess;
  let client: OpenAI;
  const once = golden.cases[0]!;
  const MODEL = 'stories-gguf';

  beforeAll(async () => {
    server = await startServe([
      storiesGguf('f32'),
      '--served-model-name',
      MODEL,
      '--max-model-len',
      '256',
      '--chat-template',
      TEMPLATE,
      '--device',
      'cpu',
      '--cpu-threads',
      '1',
    ]);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('completions: greedy text is the golden text, with usage', async () => {
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 64,
      temperature: 0,
    });
    const choice = res.choices[0]!;
    expect(once.prompt_text + choice.text).toBe(
      hf.decode([...once.prompt_ids, ...once.greedy_ids]),
    );
    expect(choice.finish_reason).toBe('length');
    expect(res.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 64, total_tokens: 69 });
    expect(res.model).toBe(MODEL);
  });

  it('echo with logprobs and prompt_logprobs score the prompt as transformers', async () => {
    const dog = golden.cases[1]!;
    const want = goldenPromptLogprobs(dog);
    const res = await client.completions.create({
      model: MODEL,
      prompt: dog.prompt_ids,
      max_tokens: 2,
      temperature: 0,
      echo: true,
      logprobs: 1,
      prompt_logprobs: 1,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    const choice = res.choices[0]! as OpenAI.CompletionChoice & {
      prompt_logprobs: Array<Record<string, { logprob: number; rank: number }> | null>;
    };
    const lp = choice.logprobs!;
    expect(lp.token_logprobs).toHaveLength(dog.prompt_ids.length + 2);
    expect(lp.token_logprobs![0]).toBeNull();
    expect(choice.prompt_logprobs).toHaveLength(dog.prompt_ids.length);
    for (let i = 1; i < dog.prompt_ids.length; i++) {
      const id = dog.prompt_ids[i]!;
      expect(Math.abs(lp.token_logprobs![i]! - want[i - 1]![id]!)).toBeLessThan(1e-3);
      expect(choice.prompt_logprobs[i]![id]!.rank).toBe(
        want[i - 1]!.filter((x) => x > want[i - 1]![id]!).length + 1,
      );
    }
  });

  it('structured output and logit_bias hold on llama.cpp as on the builtin engine', async () => {
    const post = (path: string, body: object) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: MODEL, ...body }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));
    const regex = await post('/v1/completions', {
      prompt: once.prompt_text,
      max_tokens: 30,
      guided_regex: '[a-z]{3}-[0-9]{2}',
    });
    expect(regex.status).toBe(200);
    expect(regex.body.choices[0].text).toMatch(/^[a-z]{3}-[0-9]{2}$/);
    const json = await post('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'a number' }],
      max_tokens: 60,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'n',
          schema: {
            type: 'object',
            properties: { n: { type: 'integer', minimum: 3, maximum: 7 } },
            required: ['n'],
          },
        },
      },
    });
    expect(json.status).toBe(200);
    const n = JSON.parse(json.body.choices[0].message.content).n;
    expect(n >= 3 && n <= 7).toBe(true);
    const biased = await post('/v1/completions', {
      prompt: once.prompt_text,
      max_tokens: 3,
      temperature: 0,
      logit_bias: { '100': 100 },
    });
    expect(biased.body.choices[0].text).toBe(hf.decode([100, 100, 100]));
  });

  it('completions stream the same text, then usage', async () => {
    const stream = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 20,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const c of stream) {
      chunks += 1;
      text += c.choices[0]?.text ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(chunks).toBeGreaterThan(5);
    expect(once.prompt_text + text).toBe(
      hf.decode([...once.prompt_ids, ...once.greedy_ids.slice(0, 20)]),
    );
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 20 });
  });

  it('a stop string ends the text before it', async () => {
    const full = hf.decode([...once.prompt_ids, ...once.greedy_ids]).slice(once.prompt_text.length);
    const stop = full.slice(10, 14);
    const res = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 64,
      temperature: 0,
      stop: [stop],
    });
    expect(res.choices[0]!.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(res.choices[0]!.finish_reason).toBe('stop');
  });

  it('chat renders the template and answers, streaming and not', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story' }];
    const res = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 12,
      temperature: 0,
    });
    const content = res.choices[0]!.message.content!;
    expect(content.length).toBeGreaterThan(0);
    expect(res.usage!.completion_tokens).toBe(12);
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 12,
      temperature: 0,
      stream: true,
    });
    let streamed = '';
    let role: string | undefined;
    for await (const c of stream) {
      role ??= c.choices[0]?.delta.role;
      streamed += c.choices[0]?.delta.content ?? '';
    }
    expect(role).toBe('assistant');
    expect(streamed).toBe(content);
  });

  it('sampling: a seed repeats its output, n gives several choices, a penalty changes greedy text', async () => {
    const ask = (seed: number) =>
      client.completions.create({
        model: MODEL,
        prompt: 'Once',
        max_tokens: 16,
        temperature: 1.2,
        top_p: 0.9,
        top_k: 40,
        seed,
      } as OpenAI.CompletionCreateParamsNonStreaming);
    const a = await ask(7);
    const b = await ask(7);
    expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
    const many = await client.completions.create({
      model: MODEL,
      prompt: 'Once',
      max_tokens: 8,
      n: 3,
      temperature: 1,
    });
    expect(many.choices.map((c) => c.index).sort()).toEqual([0, 1, 2]);
    expect(many.usage!.completion_tokens).toBe(24);
    const penalized = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 32,
      temperature: 0,
      frequency_penalty: 1.5,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(penalized.choices[0]!.text).not.toBe(hf.decode(once.greedy_ids.slice(0, 32)));
  });

  it('errors: a prompt past max_model_len is a 400 naming the limit; an unknown model a 404', async () => {
    const long = 'Once upon a time '.repeat(100);
    const err = await client.completions
      .create({ model: MODEL, prompt: long, max_tokens: 4 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/maximum context length is 256 tokens/);
    const missing = await client.completions
      .create({ model: 'nope', prompt: 'x', max_tokens: 1 })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('a client that leaves mid-stream frees its llama.cpp sequence', async () => {
    const ac = new AbortController();
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        prompt: 'Once',
        max_tokens: 200,
        ignore_eos: true,
        stream: true,
      }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    let running = '';
    for (let i = 0; i < 50; i++) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      running = /vllm:num_requests_running\{[^}]*\} (\d+)/.exec(text)?.[1] ?? '';
      if (running === '0') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(running).toBe('0');
    const after = await client.completions.create({
      model: MODEL,
      prompt: once.prompt_text,
      max_tokens: 8,
      temperature: 0,
    });
    expect(after.choices[0]!.finish_reason).toBe('length');
  });

  it('/metrics counts the requests and the prefix reuse of llama.cpp sequences, and nothing is left running', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/vllm:num_requests_running\{[^}]*\} 0\n/);
    expect(text).toMatch(/vllm:request_success_total\{[^}]*\} [1-9]/);
    expect(text).toMatch(/vllm:prefix_cache_hits_total\{[^}]*\} [1-9]/);
  });
});
