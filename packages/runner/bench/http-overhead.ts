// Benchmark (not a test): the cost of the HTTP layer. The same workload — S concurrent streams of random
// token-id prompts, ignore_eos, fixed lengths — through packages/engine directly and through a
// `pagoda serve` child process over HTTP/SSE; prints generated tokens/s of each and their ratio.
//
//   node --import tsx packages/runner/bench/http-overhead.ts [--model DIR] [--streams 64] [--requests 256]
//        [--input-len 64] [--output-len 128] [--device cpu] [--rounds 1]
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Engine } from '@pagoda/engine';
import { readServerSentEvents } from '../src/backends/sse-reader.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: `${REPO}../shared/models/stories260k` },
    streams: { type: 'string', default: '64' },
    requests: { type: 'string', default: '256' },
    'input-len': { type: 'string', default: '64' },
    'output-len': { type: 'string', default: '128' },
    device: { type: 'string', default: 'cpu' },
    rounds: { type: 'string', default: '1' },
    port: { type: 'string', default: '18123' },
  },
  strict: true,
});
const streams = Number(values.streams);
const total = Number(values.requests);
const inputLen = Number(values['input-len']);
const outputLen = Number(values['output-len']);
const rounds = Number(values.rounds);

/** Deterministic prompts of ordinary token ids (3..vocab-1 avoids <unk>, <s>, </s> of Llama tokenizers). */
function prompts(vocab: number): number[][] {
  let x = 12345;
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648), x);
  return Array.from({ length: total }, () =>
    Array.from({ length: inputLen }, () => 3 + (next() % (vocab - 3))),
  );
}

/** Runs `work` for every prompt with at most `streams` in flight; returns generated tokens/s. */
async function drive(
  all: number[][],
  work: (ids: number[]) => Promise<number>,
): Promise<{ tps: number; tokens: number; seconds: number }> {
  let nextIdx = 0;
  let tokens = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (nextIdx < all.length) {
        const got = await work(all[nextIdx++]!);
        tokens += got; // not `tokens += await …`: that reads `tokens` before the await
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { tps: tokens / seconds, tokens, seconds };
}

const engineOptions = {
  model: values.model!,
  device: values.device as 'cpu' | 'cuda' | 'auto',
  max_num_seqs: streams,
};
const params = { max_tokens: outputLen, temperature: 0, ignore_eos: true };

async function direct(all: number[][]) {
  const engine = await Engine.load(engineOptions);
  try {
    return await drive(all, async (ids) => {
      let n = 0;
      for await (const d of engine.generate(ids, params, {})) n += d.token_ids.length;
      return n;
    });
  } finally {
    await engine.close();
  }
}

async function overHttp(all: number[][]) {
  const url = `http://127.0.0.1:${values.port}`;
  const child = spawn(
    `${REPO}bin/pagoda`,
    [
      'serve',
      values.model!,
      '--port',
      values.port!,
      '--device',
      values.device!,
      '--max-num-seqs',
      String(streams),
      '--served-model-name',
      'm',
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PAGODA_LOG_LEVEL: 'warn' },
    },
  );
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error('pagoda serve exited');
      const ok = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return await drive(all, async (ids) => {
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          model: 'm',
          prompt: ids,
          ...params,
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      let n = 0;
      for await (const e of readServerSentEvents(res.body!)) {
        const usage = (e as { usage?: { completion_tokens: number } }).usage;
        if (usage) n = usage.completion_tokens;
      }
      return n;
    });
  } finally {
    child.kill('SIGTERM');
  }
}

const vocab = JSON.parse(
  await (await import('node:fs/promises')).readFile(`${values.model}/config.json`, 'utf8'),
).vocab_size as number;
const all = prompts(vocab);
console.log(
  `workload: ${total} requests, ${streams} concurrent streams, ${inputLen} in / ${outputLen} out (ignore_eos), model ${values.model}, device ${values.device}`,
);
for (let r = 0; r < rounds; r++) {
  const d = await direct(all);
  const h = await overHttp(all);
  console.log(
    `direct engine : ${d.tps.toFixed(0)} tok/s (${d.tokens} tokens in ${d.seconds.toFixed(2)} s)`,
  );
  console.log(
    `through HTTP  : ${h.tps.toFixed(0)} tok/s (${h.tokens} tokens in ${h.seconds.toFixed(2)} s)`,
  );
  console.log(`ratio HTTP/direct: ${(h.tps / d.tps).toFixed(3)}`);
}
