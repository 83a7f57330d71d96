// Benchmark (not a test): the builtin CPU engine against llama.cpp (node-llama-cpp's prebuilt CPU
// binary) on the same shape, the same weights, in one process on one machine. Writes the 0.5B dummy
// Llama (bench/configs/llama-0.5b.json) with one set of random weights as safetensors BF16 (builtin)
// and as GGUF F16, BF16 and Q8_0 (llama.cpp), then measures batch-1 greedy decode tokens/s of each.
//
//   node --import tsx packages/runner/bench/cpu-engines.ts [--config FILE] [--threads 1] [--input-len 16]
//        [--output-len 32] [--rounds 3] [--dir /tmp/…] [--out FILE.json]
import { execSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Engine, type GenerateDelta } from '@pagoda/engine';
import {
  convertLlamaToGguf,
  dummyReader,
  llamaTensorShapes,
  readGgufHeader,
  writeSafetensorsBf16,
  type OutType,
} from '@pagoda/gguf';
import { ggufVocabSize } from '../src/backends/gguf-tokenizer.ts';
import { LlamaEngine } from '../src/backends/llama-engine.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { values } = parseArgs({
  options: {
    config: { type: 'string', default: `${REPO}bench/configs/llama-0.5b.json` },
    threads: { type: 'string', default: '1' },
    'input-len': { type: 'string', default: '16' },
    'output-len': { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    dir: { type: 'string', default: join(tmpdir(), 'pagoda-cpu-engines') },
    out: { type: 'string' },
  },
});
const threads = Number(values.threads);
const inputLen = Number(values['input-len']);
const outputLen = Number(values['output-len']);
const rounds = Number(values.rounds);
const SEED = 1234;

/** The checkpoint folder: config.json, a SentencePiece-style tokenizer.json of the config's vocabulary (llama.cpp needs one), weights. */
function prepare(dir: string): { vocab: number } {
  mkdirSync(dir, { recursive: true });
  copyFileSync(values.config, join(dir, 'config.json'));
  const vocab = (JSON.parse(readFileSync(values.config, 'utf8')) as { vocab_size: number })
    .vocab_size;
  const pieces: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++)
    pieces[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (let id = 259; id < vocab; id++) pieces[`\u2581w${id}`] = id;
  const added = ['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, special: true }));
  writeFileSync(
    join(dir, 'tokenizer.json'),
    JSON.stringify({
      model: { type: 'BPE', byte_fallback: true, vocab: pieces, merges: [] },
      added_tokens: added,
    }),
  );
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      add_bos_token: true,
    }),
  );
  const st = join(dir, 'model.safetensors');
  if (!existsSync(st)) {
    const read = dummyReader(SEED);
    writeSafetensorsBf16(
      st,
      llamaTensorShapes(dir).map(([name, shape]) => ({
        name,
        shape,
        values: () => read(name, shape),
      })),
    );
  }
  return { vocab };
}

function gguf(dir: string, outtype: OutType): string {
  const path = join(dir, `model-${outtype}.gguf`);
  if (!existsSync(path))
    convertLlamaToGguf({
      dir,
      out: path,
      outtype,
      name: 'llama-0.5b-dummy',
      dummy: { seed: SEED },
    });
  return path;
}

interface Round {
  ttft_ms: number;
  decode_tokens_per_s: number;
}

/** One greedy request of outputLen tokens: time to the first token, then decode tokens/s after it. */
async function round(
  generate: (ids: number[]) => AsyncIterable<GenerateDelta>,
  prompt: number[],
): Promise<Round> {
  const t0 = performance.now();
  let first = 0;
  let last = 0;
  let tokens = 0;
  for await (const d of generate(prompt)) {
    if (d.token_ids.length === 0) continue;
    if (tokens === 0) first = performance.now();
    tokens += d.token_ids.length;
    last = performance.now();
  }
  if (tokens !== outputLen) throw new Error(`expected ${outputLen} tokens, got ${tokens}`);
  return { ttft_ms: first - t0, decode_tokens_per_s: ((tokens - 1) * 1000) / (last - first) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(
  name: string,
  file: string,
  load: () => Promise<{
    generate: (ids: number[]) => AsyncIterable<GenerateDelta>;
    close: () => Promise<void> | void;
  }>,
  vocab: number,
) {
  const t0 = performance.now();
  const engine = await load();
  const loadS = (performance.now() - t0) / 1000;
  let s = 7;
  const prompt = () =>
    Array.from(
      { length: inputLen },
      () => 3 + ((s = (s * 1103515245 + 12345) % 2 ** 31) % (vocab - 3)),
    );
  await round(engine.generate, prompt()); // warm-up
  const runs: Round[] = [];
  for (let i = 0; i < rounds; i++) runs.push(await round(engine.generate, prompt()));
  await engine.close();
  const row = {
    engine: name,
    file,
    file_bytes: statSync(file).size,
    load_s: loadS,
    decode_tokens_per_s: median(runs.map((r) => r.decode_tokens_per_s)),
    // On a shared machine the fastest round is the one least disturbed by other work.
    best_decode_tokens_per_s: Math.max(...runs.map((r) => r.decode_tokens_per_s)),
    load_average_1m: loadavg()[0],
    ttft_ms: median(runs.map((r) => r.ttft_ms)),
    rounds: runs,
  };
  console.log(
    `${name.padEnd(26)} ${row.decode_tokens_per_s.toFixed(2).padStart(8)} tok/s decode (best ${row.best_decode_tokens_per_s.toFixed(2)})   ttft ${row.ttft_ms.toFixed(0)} ms   load ${loadS.toFixed(1)} s   ${(row.file_bytes / 2 ** 30).toFixed(2)} GiB`,
  );
  return row;
}

const dir = values.dir;
const { vocab } = prepare(dir);
const params = { max_tokens: outputLen, temperature: 0, ignore_eos: true };
const rows = [];
rows.push(
  await measure(
    'builtin (safetensors bf16)',
    join(dir, 'model.safetensors'),
    async () => {
      const e = await Engine.load({
        model: dir,
        device: 'cpu',
        num_threads: threads,
        max_model_len: 256,
        max_num_seqs: 1,
        kv_cache_space_bytes: 256 * 2 ** 20,
      });
      return { generate: (ids) => e.generate(ids, params), close: () => e.close() };
    },
    vocab,
  ),
);
for (const outtype of ['f16', 'bf16', 'q8_0'] as const) {
  const file = gguf(dir, outtype);
  rows.push(
    await measure(
      `llama.cpp (gguf ${outtype})`,
      file,
      async () => {
        const e = await LlamaEngine.load({
          modelPath: file,
          gpuLayers: 0,
          maxModelLen: 256,
          maxNumSeqs: 1,
          threads,
          kvCacheType: 'F16',
          vocabSize: ggufVocabSize(readGgufHeader(file)),
        });
        return { generate: (ids) => e.generate(ids, params, {}), close: () => e.close() };
      },
      vocab,
    ),
  );
}
const builtin = rows[0]!.decode_tokens_per_s;
for (const r of rows.slice(1))
  console.log(
    `${r.engine}: ${(r.decode_tokens_per_s / builtin).toFixed(2)}× the builtin engine's decode rate`,
  );
if (values.out) {
  const commit = execSync('git rev-parse --short HEAD', { cwd: REPO }).toString().trim();
  writeFileSync(
    values.out,
    `${JSON.stringify({ tool: 'packages/runner/bench/cpu-engines.ts', date: new Date().toISOString(), git_commit: commit, cpu: cpus()[0]?.model, cores: cpus().length, threads, config: values.config, input_len: inputLen, output_len: outputLen, rounds, engines: rows }, null, 1)}\n`,
  );
}
