// The synthetic tokenizer the GPU benchmarks serve (scripts/device/make-bench-tokenizer.mjs): exactly the
// config's vocab_size ids, every ordinary id decodes to text (so random output ids of dummy weights
// stream as text), special tokens where Llama 3 has them, and the same files on every run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../src/index.ts';

const REPO = new URL('../../../', import.meta.url).pathname;
const SCRIPT = join(REPO, 'scripts/device/make-bench-tokenizer.mjs');
const CONFIG = join(REPO, '../shared/configs/llama-3-8b.json');

function make(config: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pagoda-bench-tokenizer-'));
  execFileSync(process.execPath, [SCRIPT, config, dir], { stdio: 'pipe' });
  return dir;
}

describe('make-bench-tokenizer', () => {
  const dir = make(CONFIG);
  const tokenizer = Tokenizer.fromDir(dir);

  it('covers the whole vocabulary, with Llama 3 special tokens', () => {
    expect(tokenizer.vocabSize).toBe(128256);
    expect(tokenizer.bosTokenId).toBe(128000);
    expect(tokenizer.eosTokenIds).toContain(128001);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(CONFIG, 'utf8')));
  });

  it('decodes every ordinary id to text and leaves special ids out', () => {
    let empty = 0;
    for (let id = 256; id < 128000; id++) if (tokenizer.decode([id]) === '') empty++;
    expect(empty).toBe(0);
    expect(tokenizer.decode([128000, 128255])).toBe('');
    expect(tokenizer.decode([128000], { skipSpecialTokens: false })).toBe('<|begin_of_text|>');
  });

  it('writes the same files every run', () => {
    const again = make(CONFIG);
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
      expect(readFileSync(join(again, f), 'utf8')).toBe(readFileSync(join(dir, f), 'utf8'));
  });
});
