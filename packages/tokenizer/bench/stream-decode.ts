// Benchmark (not a test): what streaming detokenization costs the runner per generated token, with a
// Llama-3-size byte-level vocabulary (128,256 ids, 256 special; scripts/device/make-bench-tokenizer.mjs
// makes it from ../shared/configs/llama-3-8b.json). Streams of random ids go through IncrementalDecoder
// one token a step, as the runner does, once over @huggingface/tokenizers' own decode (the reference)
// and once over Tokenizer.decode (its byte-level path); prints µs per token of each and their ratio.
//   node --import tsx packages/tokenizer/bench/stream-decode.ts [--streams 256] [--tokens 200] [--rounds 5] [--out FILE.json]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { IncrementalDecoder, Tokenizer } from '../src/index.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { values } = parseArgs({
  options: {
    config: { type: 'string', default: `${REPO}../shared/configs/llama-3-8b.json` },
    streams: { type: 'string', default: '256' },
    tokens: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '5' },
    out: { type: 'string' },
  },
});
const streams = Number(values.streams);
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);

const dir = mkdtempSync(join(tmpdir(), 'pagoda-stream-decode-'));
execFileSync(process.execPath, [`${REPO}scripts/device/make-bench-tokenizer.mjs`, values.config!, dir], { stdio: 'ignore' });
const tokenizer = Tokenizer.fromDir(dir);
const library = new HfTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), {
  ...JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
  clean_up_tokenization_spaces: false,
});
const viaLibrary = {
  decode: (ids: readonly number[], o: { skipSpecialTokens?: boolean } = {}) =>
    ids.length === 0 ? '' : library.decode([...ids], { skip_special_tokens: o.skipSpecialTokens ?? true }),
};

// mulberry32: the same ids every run
let seed = 1;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const ids = Array.from({ length: streams }, () => Array.from({ length: tokens }, () => Math.floor(rand() * tokenizer.vocabSize)));
const prompts = Array.from({ length: streams }, () => Array.from({ length: 5 }, () => Math.floor(rand() * 128000)));

/** µs per token to stream every id of every stream, one token per stream per step; and the text. */
function run(source: Pick<Tokenizer, 'decode'>): { usPerToken: number; text: string } {
  const decoders = prompts.map((p) => new IncrementalDecoder(source, { promptIds: p }));
  const texts = decoders.map(() => '');
  const t0 = performance.now();
  for (let step = 0; step < tokens; step++)
    for (let s = 0; s < streams; s++) texts[s] += decoders[s]!.push([ids[s]![step]!]);
  for (let s = 0; s < streams; s++) texts[s] += decoders[s]!.flush();
  return { usPerToken: ((performance.now() - t0) * 1000) / (streams * tokens), text: texts.join('\u0000') };
}

const rows: Array<{ round: number; library_us_per_token: number; pagoda_us_per_token: number; ratio: number }> = [];
for (let round = 1; round <= rounds; round++) {
  const lib = run(viaLibrary);
  const own = run(tokenizer);
  if (lib.text !== own.text) throw new Error('the two decodes streamed different text');
  rows.push({ round, library_us_per_token: lib.usPerToken, pagoda_us_per_token: own.usPerToken, ratio: lib.usPerToken / own.usPerToken });
  console.log(`round ${round}: library ${lib.usPerToken.toFixed(2)} µs/token, Tokenizer.decode ${own.usPerToken.toFixed(2)} µs/token (${(lib.usPerToken / own.usPerToken).toFixed(1)}x), same text`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = {
  library_us_per_token: median(rows.map((r) => r.library_us_per_token)),
  pagoda_us_per_token: median(rows.map((r) => r.pagoda_us_per_token)),
};
console.log(`median: library ${summary.library_us_per_token.toFixed(2)} µs/token, Tokenizer.decode ${summary.pagoda_us_per_token.toFixed(2)} µs/token`);
if (values.out) {
  const record = { bench: 'packages/tokenizer/bench/stream-decode.ts', date: new Date().toISOString(), cpu: `${cpus()[0]?.model ?? ''} x ${cpus().length}`, node: process.version, vocab_size: tokenizer.vocabSize, streams, tokens_per_stream: tokens, rounds: rows, median: summary };
  writeFileSync(values.out, `${JSON.stringify(record, null, 2)}\n`);
}
