// The CPU engine's KV pool memory (issue 14): its pages are committed as blocks are first
// written, so the engine reuses touched blocks first and gives back the pages of empty blocks
// when it goes idle. Read from this process's own mappings (/proc/self/smaps).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/index.ts';
import { BASE, collect, greedy, makePrompt } from './helpers.ts';

// A budget no other mapping of this process has: the pool is the writable mapping of exactly this
// size (stories260k's blocks divide it), its own line in smaps: the engine puts a guard page on each
// side, or the kernel would merge it with a neighbouring mapping whose pages are not the pool's.
const KV_BYTES = 200 << 20;
const MiB = 2 ** 20;

/** RSS of the writable mapping sized like the KV pool; it must exist. */
function kvPoolRss(): number {
  let rss = 0;
  let found = 0;
  let isPool = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
    if (range) {
      const size = parseInt(range[2]!, 16) - parseInt(range[1]!, 16);
      isPool = range[3] === 'rw-p' && size === KV_BYTES;
      if (isPool) found++;
    } else if (isPool && line.startsWith('Rss:')) rss += Number(line.split(/\s+/)[1]) * 1024;
  }
  expect(found, 'the KV pool mapping').toBe(1);
  return rss;
}

async function idle(engine: Engine): Promise<void> {
  // the engine thread hands the pages back after its last step, then reports itself idle
  for (let i = 0; i < 1000 && !engine.stats().idle; i++) await new Promise((r) => setTimeout(r, 10));
  expect(engine.stats().idle, 'the engine went idle').toBe(true);
}

const round = (engine: Engine, seed: number) =>
  Promise.all(Array.from({ length: 24 }, (_, i) => collect(engine.generate(makePrompt(60 + i, seed * 100 + i), greedy(40)))));

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

describe('CPU KV pool memory', () => {
  it('gives back the pages of every block once the engine is idle (prefix caching off)', async () => {
    engine = await Engine.load({ ...BASE, kv_cache_space_bytes: KV_BYTES, enable_prefix_caching: false });
    const bytesPerBlock = KV_BYTES / engine.stats().kv_blocks_total;
    const atLoad = kvPoolRss(); // loading already writes a few pages
    await round(engine, 1);
    await idle(engine);
    const touched = engine.stats().kv_blocks_touched;
    // 24 sequences of 100 tokens held these blocks at once: megabytes of pages were committed
    expect(touched * bytesPerBlock).toBeGreaterThan(2 * MiB);
    // all of it back but what straddles a block boundary: at most a page per K/V region
    expect(kvPoolRss()).toBeLessThanOrEqual(atLoad + 64 * 1024);
  });

  it('keeps the pages of cached prefixes, stays at the peak in use over rounds, and still hits', async () => {
    engine = await Engine.load({ ...BASE, kv_cache_space_bytes: KV_BYTES });
    const { kv_blocks_total, block_size } = engine.stats();
    const bytesPerBlock = KV_BYTES / kv_blocks_total;
    // The most blocks a round can hold at once: all 24 sequences at their longest together. How
    // close a round comes to it depends on how the requests are admitted, so the bound is this.
    const roundPeak = Array.from({ length: 24 }, (_, i) => Math.ceil((60 + i + 40) / block_size)).reduce((a, b) => a + b);
    await round(engine, 1);
    await idle(engine);
    expect(kvPoolRss()).toBeGreaterThan(MiB); // the cached prefixes are data, kept
    for (let seed = 2; seed <= 4; seed++) await round(engine, seed);
    await idle(engine);
    // new prompts each round: without reusing touched blocks first, each round would take
    // untouched ones and keep all older prefixes, so the touched blocks would grow 4-fold
    expect(engine.stats().kv_blocks_touched).toBeLessThanOrEqual(roundPeak);
    // committed pages: the cached prefixes within those blocks, plus a page per K/V region that
    // straddles a block boundary
    expect(kvPoolRss()).toBeLessThanOrEqual(roundPeak * bytesPerBlock + 64 * 1024);
    const before = engine.stats();
    await collect(engine.generate(makePrompt(60, 4 * 100), greedy(4))); // the last round's first prompt
    expect(engine.stats().prefix_cache_hits - before.prefix_cache_hits).toBeGreaterThan(0);
  });
});
