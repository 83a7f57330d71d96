// The builtin backend's own logic over a scripted engine (exact tokens): stop strings that span tokens,
// text held back only while it may start a stop string, early stop aborting the engine, n outputs.
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CompletionChunk } from '@pagoda/protocol';
import { Tokenizer } from '@pagoda/tokenizer';
import { BuiltinBackend } from '../src/backends/builtin.ts';
import { ServeOptionsSchema } from '../src/serve-options.ts';
import { STORIES, storiesGolden } from './helpers/serve-process.ts';
import { ScriptedEngine } from './helpers/scripted-engine.ts';

const golden = storiesGolden();
const once = golden.cases[0]!;
const log = pino({ level: 'silent' });

async function collect(stream: AsyncIterable<CompletionChunk>): Promise<CompletionChunk[]> {
  const out: CompletionChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

const textOf = (chunks: CompletionChunk[], index = 0) =>
  chunks.flatMap((c) => c.choices.filter((x) => x.index === index).map((x) => x.text)).join('');

let engine: ScriptedEngine;
let backend: BuiltinBackend;
beforeAll(async () => {
  // output 0 replays the golden greedy continuation; output 1 the same shifted by 5 tokens
  engine = new ScriptedEngine((_p, i) => once.greedy_ids.slice(i * 5));
  backend = new BuiltinBackend(
    ServeOptionsSchema.parse({ model: STORIES }),
    log,
    async () => engine,
  );
  await backend.load();
});

const ctx = () => ({ signal: new AbortController().signal, requestId: 'cmpl-test', model: 'm' });

describe('builtin backend over a scripted engine', () => {
  it('detokenizes the stream to the golden text', async () => {
    const chunks = await collect(
      backend.completions({ prompt: once.prompt_ids, max_tokens: 64 }, ctx()),
    );
    expect(textOf(chunks)).toBe(once.greedy_text);
    expect(chunks.at(-1)!.usage).toMatchObject({
      prompt_tokens: once.prompt_ids.length,
      completion_tokens: 64,
    });
  });

  it('cuts at a stop string spanning several tokens and aborts the engine', async () => {
    const stop = 'little girl named';
    const at = once.greedy_text.indexOf(stop);
    const abortedBefore = engine.aborted;
    const chunks = await collect(
      backend.completions({ prompt: once.prompt_ids, max_tokens: 64, stop }, ctx()),
    );
    expect(textOf(chunks)).toBe(once.greedy_text.slice(0, at));
    const last = chunks.filter((c) => c.choices.length > 0).at(-1)!.choices[0]!;
    expect(last).toMatchObject({ finish_reason: 'stop', stop_reason: stop });
    // counted: the tokens up to the one that completed the stop string, not all 64
    const tokenizer = Tokenizer.fromDir(STORIES);
    const needed =
      once.greedy_ids.findIndex((_, i) =>
        tokenizer.decode([...once.prompt_ids, ...once.greedy_ids.slice(0, i + 1)]).includes(stop),
      ) + 1;
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(needed);
    await new Promise((r) => setTimeout(r, 20));
    expect(engine.aborted).toBe(abortedBefore + 1);
  });

  it('never sends text that turns out to be part of a stop string', async () => {
    const stop = 'girl named Lily';
    const chunks = await collect(
      backend.completions(
        { prompt: once.prompt_ids, max_tokens: 64, stop, include_stop_str_in_output: true },
        ctx(),
      ),
    );
    const pieces = chunks.flatMap((c) => c.choices.map((x) => x.text));
    const at = once.greedy_text.indexOf(stop);
    expect(pieces.join('')).toBe(once.greedy_text.slice(0, at + stop.length));
    // everything before the final piece was sent before the stop was seen, and none of it holds the stop's start
    const beforeLast = pieces.slice(0, -1).join('');
    expect(beforeLast.length).toBeLessThanOrEqual(at);
  });

  it('ends each of n outputs at its own stop and stops the engine when all have', async () => {
    const chunks = await collect(
      backend.completions({ prompt: once.prompt_ids, max_tokens: 64, n: 2, stop: '.' }, ctx()),
    );
    const t0 = textOf(chunks, 0);
    const t1 = textOf(chunks, 1);
    expect(t0).toBe(once.greedy_text.slice(0, once.greedy_text.indexOf('.')));
    expect(t1.includes('.')).toBe(false);
    expect(t1.length).toBeGreaterThan(0);
    const finishes = chunks.flatMap((c) =>
      c.choices.filter((x) => x.finish_reason).map((x) => [x.index, x.finish_reason]),
    );
    expect(finishes).toEqual(
      expect.arrayContaining([
        [0, 'stop'],
        [1, 'stop'],
      ]),
    );
  });

  it('passes sampling parameters to the engine as vLLM names them', async () => {
    await collect(
      backend.completions(
        {
          prompt: [1, 2, 3],
          max_tokens: 4,
          temperature: 0.5,
          top_k: 5,
          top_p: 0.9,
          min_p: 0.1,
          seed: 9,
          repetition_penalty: 1.2,
          presence_penalty: 0.1,
          frequency_penalty: 0.2,
          stop_token_ids: [7],
          ignore_eos: true,
          min_tokens: 2,
          logprobs: 1,
        },
        ctx(),
      ),
    );
    expect(engine.lastParams).toEqual({
      n: 1,
      max_tokens: 4,
      min_tokens: 2,
      temperature: 0.5,
      top_k: 5,
      top_p: 0.9,
      min_p: 0.1,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      repetition_penalty: 1.2,
      seed: 9,
      logprobs: 1,
      stop_token_ids: [7],
      ignore_eos: true,
    });
  });

  it('stops the engine when the client goes away', async () => {
    const abort = new AbortController();
    const before = engine.aborted;
    let seen = 0;
    for await (const _ of backend.completions(
      { prompt: once.prompt_ids, max_tokens: 64 },
      { ...ctx(), signal: abort.signal },
    )) {
      if (++seen === 3) abort.abort();
    }
    expect(engine.aborted).toBe(before + 1);
  });
});

describe('an engine that fails', () => {
  it('turns a failed step into a 503 and marks the backend failed', async () => {
    class EngineStepError extends Error {
      override name = 'EngineStepError';
    }
    const failing = new ScriptedEngine(() => once.greedy_ids);
    const real = failing.generate.bind(failing);
    failing.generate = async function* (ids, params, options) {
      let n = 0;
      for await (const d of real(ids, params, options)) {
        if (++n === 3) throw new EngineStepError('CUDA error: an illegal memory access');
        yield d;
      }
    };
    const b = new BuiltinBackend(
      ServeOptionsSchema.parse({ model: STORIES }),
      log,
      async () => failing,
    );
    await b.load();
    await expect(
      collect(b.completions({ prompt: once.prompt_ids, max_tokens: 10 }, ctx())),
    ).rejects.toMatchObject({
      status: 503,
      message: 'the engine failed: CUDA error: an illegal memory access',
    });
    expect(b.state()).toBe('failed');
    expect(b.failure()).toMatch(/illegal memory access/);
  });
});
