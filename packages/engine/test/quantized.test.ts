// @pagoda/engine on quantized checkpoints (fixtures/wave2) and with an fp8 KV cache: the
// addon's quantization, kv_cache_dtype and load errors as a JavaScript caller sees them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Engine, InvalidEngineOptionsError } from '../src/index.ts';
import { greedy, STORIES, tokensAlone } from './helpers.ts';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const OPTS = { device: 'cpu', kv_cache_space_bytes: 8 << 20, num_threads: 1 } as const;

interface Golden {
  cases: Array<{
    prompt_ids: number[];
    greedy_ids: number[];
    'first_step_with_margin_below_0.05': number | null;
  }>;
}
const golden = (name: string): Golden =>
  JSON.parse(readFileSync(`${shared}fixtures/wave2/golden/${name}.golden.json`, 'utf8')) as Golden;

describe('quantized checkpoints', () => {
  // W8A8 for fp8 checkpoints is what the engine runs by default: their *.w8a8 goldens.
  it.each([
    ['tiny-llama-gptq-int4', 'tiny-llama-gptq-int4'],
    ['tiny-llama-awq-int4', 'tiny-llama-awq-int4'],
    ['tiny-llama-fp8-block', 'tiny-llama-fp8-block.w8a8'],
  ])('%s gives its golden greedy tokens', async (model, goldenName) => {
    const engine = await Engine.load({ ...OPTS, model: `${shared}models/wave2/${model}` });
    try {
      for (const c of golden(goldenName).cases.slice(0, 2)) {
        const n = c['first_step_with_margin_below_0.05'] ?? c.greedy_ids.length;
        const tokens = await tokensAlone(engine, c.prompt_ids, greedy(n));
        expect(tokens).toEqual(c.greedy_ids.slice(0, n));
      }
    } finally {
      await engine.close();
    }
  });

  it('rejects a quantization that does not match the checkpoint, naming both', async () => {
    await expect(
      Engine.load({
        ...OPTS,
        model: `${shared}models/wave2/tiny-llama-awq-int4`,
        quantization: 'gptq',
      }),
    ).rejects.toThrow(/"gptq" does not match .*awq/);
    await expect(Engine.load({ ...OPTS, model: STORIES, quantization: 'int3' })).rejects.toThrow(
      InvalidEngineOptionsError,
    );
  });
});

describe('kv_cache_dtype fp8', () => {
  it('holds twice the blocks of a bf16 cache in the same memory and generates', async () => {
    const bf16 = await Engine.load({ ...OPTS, model: STORIES, kv_cache_dtype: 'bfloat16' });
    const fp8 = await Engine.load({ ...OPTS, model: STORIES, kv_cache_dtype: 'fp8' });
    try {
      const a = bf16.stats().kv_blocks_total;
      const b = fp8.stats().kv_blocks_total;
      expect(b === 2 * a || b === 2 * a + 1).toBe(true);
      const tokens = await tokensAlone(fp8, [1, 400, 263, 1345 % 512], greedy(8));
      expect(tokens).toHaveLength(8);
    } finally {
      await bf16.close();
      await fp8.close();
    }
    await expect(
      Engine.load({ ...OPTS, model: STORIES, kv_cache_dtype: 'fp8_e5m2' }),
    ).rejects.toThrow(/kv_cache_dtype/);
  });
});
