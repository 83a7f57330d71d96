// Makes a model folder for dummy-weight benchmarks: config.json and a synthetic byte-level BPE tokenizer
// (the shape of Llama 3's: ByteLevel pre-tokenizer and decoder, special tokens at the top of the
// vocabulary) with exactly `vocab_size` ids, so the random output ids of dummy weights all decode to text,
// as they would with the real tokenizer. Deterministic; no weights (serve it with --load-format dummy).
//   node make-bench-tokenizer.mjs <config.json> <out dir> [number of special tokens, default 256]
import process from 'node:process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [configPath, outDir, specialArg] = process.argv.slice(2);
if (!configPath || !outDir) {
  process.stderr.write('usage: node make-bench-tokenizer.mjs <config.json> <out dir> [special tokens]\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const vocabSize = config.vocab_size;
const numSpecial = Number(specialArg ?? 256);
if (!Number.isInteger(vocabSize) || vocabSize < 256 + numSpecial + 1)
  throw new Error(`${configPath}: vocab_size must be an integer above ${256 + numSpecial}, got ${vocabSize}`);

// GPT-2's byte-to-unicode table: the 256 byte tokens of every byte-level BPE vocabulary.
function byteChars() {
  const printable = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const chars = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  return chars;
}

const vocab = {};
let id = 0;
for (const c of byteChars()) vocab[c] = id++;
// Word pieces: base-26 spellings of a counter, every other one with a leading space (Ġ), as in real text.
const ordinary = vocabSize - numSpecial;
for (let n = 0; id < ordinary; n++) {
  let word = '';
  for (let k = n + 26; k > 0; k = Math.floor(k / 26) - 1) word = String.fromCharCode(97 + (k % 26)) + word;
  if (n % 2 === 0) word = `\u0120${word}`;
  if (!(word in vocab)) vocab[word] = id++;
}
const names = ['<|begin_of_text|>', '<|end_of_text|>'];
const added = [];
for (let i = 0; i < numSpecial; i++) {
  const content = names[i] ?? `<|reserved_special_token_${i}|>`;
  vocab[content] = id;
  added.push({ id: id++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
}

const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: added,
  normalizer: null,
  pre_tokenizer: byteLevel,
  post_processor: byteLevel,
  decoder: byteLevel,
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: true,
    vocab,
    merges: [],
  },
};
mkdirSync(outDir, { recursive: true });
copyFileSync(configPath, join(outDir, 'config.json'));
writeFileSync(join(outDir, 'tokenizer.json'), JSON.stringify(tokenizer));
writeFileSync(
  join(outDir, 'tokenizer_config.json'),
  JSON.stringify({ bos_token: added[0].content, eos_token: added[1].content, add_bos_token: false }),
);
writeFileSync(
  join(outDir, 'generation_config.json'),
  JSON.stringify({ bos_token_id: added[0].id, eos_token_id: added[1].id }),
);
process.stderr.write(`${outDir}: config.json and a tokenizer of ${id} tokens (${numSpecial} special)\n`);
