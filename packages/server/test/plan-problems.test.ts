// A refused plan's problems as values beside its sentences: the GPUs of a worker that fail alike are
// one problem (said once, not per GPU) with the numbers and by how much; per-GPU room is merged alike.
import { describe, expect, it } from 'vitest';
import { findSpec } from '../src/catalog/index.ts';
import { plan, type PlannerDeviceInput } from '../src/planner/index.ts';

const GiB = 2 ** 30;
const gpus = (worker: string, count: number, total: number, extra: Partial<PlannerDeviceInput> = {}): PlannerDeviceInput[] =>
  Array.from({ length: count }, (_, index) => ({ worker, index, total, ...extra }));
const LLAMA_70B = findSpec('llama-3.1-instruct', null, 70).spec.architecture;
const LLAMA_8B = findSpec('llama-3.1-instruct', null, 8).spec.architecture;

describe('plan problem details', () => {
  it('names eight GPUs that cannot hold a 70B shard in one problem, with the excess', () => {
    const p = plan({ model: { arch: LLAMA_70B, context_length: 131_072 }, params: {}, devices: gpus('w1', 8, 80 * GiB) });
    expect(p.fits).toBe(false);
    expect(p.problem_details).toHaveLength(1);
    const [d] = p.problem_details;
    expect(d).toMatchObject({ kind: 'over_budget', worker: 'w1', gpus: [0, 1, 2, 3, 4, 5, 6, 7], total: 80 * GiB, gpu_memory_utilization: 0.9 });
    if (d!.kind !== 'over_budget') throw new Error('unreachable');
    expect(d.over).toBe(d.weights + d.activations + d.cuda_graphs + d.overhead - d.budget);
    expect(d.over).toBeGreaterThan(0);
    // The sentence for API users says it once too, and the two lists stay in step.
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatch(/^w1: GPU 0, 1, 2, 3, 4, 5, 6, 7 \(80\.00 GiB each\): .* by \d+\.\d\d GiB$/);
    expect(p.message.match(/GPU \d/g)).toHaveLength(1);
  });

  it('merges GPUs short of room alike, and says how much more a shard needs', () => {
    const p = plan({
      model: { arch: LLAMA_8B, context_length: 8192 },
      params: { max_model_len: 8192 },
      devices: gpus('w1', 2, 80 * GiB, { used: 70 * GiB }),
    });
    expect(p.fits).toBe(false);
    expect(p.problem_details).toEqual([
      expect.objectContaining({ kind: 'gpu_short', worker: 'w1', gpus: [0, 1], available: 10 * GiB }),
    ]);
    const [d] = p.problem_details;
    if (d!.kind !== 'gpu_short') throw new Error('unreachable');
    expect(d.short).toBe(d.claim - d.available);
    // The claim is utilization x CUDA's usable total (the driver's reserve off the 80 GiB), so a bit under 72 GiB.
    expect(d.claim).toBeGreaterThan(71 * GiB);
    expect(d.claim).toBeLessThan(72 * GiB);
    expect(p.problems[0]).toBe(`w1: GPU 0, 1 have 10.00 GiB available of 80.00 GiB each, a shard claims ${(d.claim / GiB).toFixed(2)} GiB`);
  });

  it('keeps problems that name no GPU as they are', () => {
    const p = plan({ model: { arch: LLAMA_8B, context_length: 8192 }, params: { tensor_parallel_size: 3 }, devices: gpus('w1', 4, 80 * GiB) });
    expect(p.problem_details).toEqual([expect.objectContaining({ kind: 'tensor_parallel_heads', tensor_parallel_size: 3 })]);
    expect(plan({ model: { arch: LLAMA_8B }, params: {}, devices: [] }).problem_details).toEqual([{ kind: 'no_gpus' }]);
  });
});
