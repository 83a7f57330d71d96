// Memory planning: per-GPU numbers for real model shapes on 80 GB and 24 GB GPUs, placement by free
// memory with explicit worker / GPU choices, and refusals that carry numbers and settings that fit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { archFromConfig, findSpec, type ArchNumbers } from '../src/catalog/index.ts';
import {
  activationBytes,
  cudaTotalBytes,
  CUDA_GRAPH_BYTES_PER_LAYER,
  decodeWorkspaceBytes,
  kvBytesPerToken,
  plan,
  PlanInputError,
  resolveParams,
  type PlannerDeviceInput,
} from '../src/planner/index.ts';

const GiB = 2 ** 30;
const H100 = 80 * GiB;
const RTX = 24 * GiB;
const shape = (file: string): ArchNumbers =>
  archFromConfig(
    JSON.parse(
      readFileSync(new URL(`../../../../shared/configs/${file}`, import.meta.url), 'utf8'),
    ),
  ).arch!;
const LLAMA3_8B = shape('llama-3-8b.json');
const QWEN25_7B = shape('qwen2.5-7b.json');
const LLAMA31_8B = findSpec('llama-3.1-instruct', null, 8).spec.architecture;

const gpus = (
  worker: string,
  count: number,
  total: number,
  extra: Partial<PlannerDeviceInput> = {},
): PlannerDeviceInput[] =>
  Array.from({ length: count }, (_, index) => ({ worker, index, total, ...extra }));

describe('KV bytes per token', () => {
  it('matches ../shared/configs/README.md: Llama-3-8B 128 KiB, Qwen2.5-7B 56 KiB in bf16', () => {
    expect(kvBytesPerToken(LLAMA3_8B, resolveParams({}, LLAMA3_8B))).toBe(128 * 1024);
    expect(kvBytesPerToken(QWEN25_7B, resolveParams({}, QWEN25_7B))).toBe(56 * 1024);
  });

  it('halves with an fp8 cache and with each doubling of tensor parallelism, down to one replicated head', () => {
    expect(kvBytesPerToken(LLAMA3_8B, resolveParams({ kv_cache_dtype: 'fp8' }, LLAMA3_8B))).toBe(
      64 * 1024,
    );
    expect(kvBytesPerToken(LLAMA3_8B, resolveParams({ tensor_parallel_size: 2 }, LLAMA3_8B))).toBe(
      64 * 1024,
    );
    expect(kvBytesPerToken(LLAMA3_8B, resolveParams({ tensor_parallel_size: 16 }, LLAMA3_8B))).toBe(
      16 * 1024,
    );
  });
});

describe('activation memory', () => {
  it('sums the buffers the CUDA engine allocates for Llama-3-8B at 2048 batched tokens', () => {
    const params = resolveParams({}, LLAMA3_8B);
    // Per token: fp32 residual 4·4096, then bf16 h + o (2·4096), qkv (4096 + 2·1024), attention
    // out (4096), gate/up + act (3·14336): 139264 bytes; 256 logit rows of bf16 hidden + fp32 vocab.
    const buffers = 2048 * 139_264 + 256 * (2 * 4096 + 4 * 128_256);
    // Decode split-K: batches up to 8 split (one sequence: 64 partitions of 128 tokens), larger ones do not.
    expect(decodeWorkspaceBytes(LLAMA3_8B, params)).toBe(32 * 64 * 520);
    // The decode graphs' fixed inputs (256 block tables of 512 blocks), the forward's packed inputs
    // (staged twice), cuBLASLt's workspace: 453,845,616 bytes, what the engine held on the H200.
    const inputs = 4 * (7 * 256 + 4 + 256 * 512) + 2 * 4 * (3 * 2048 + 4 + 4 + 128 + 64 + 4);
    expect(activationBytes(LLAMA3_8B, params)).toBe(buffers + 32 * 64 * 520 + inputs + 32 * 2 ** 20);
    expect(activationBytes(LLAMA3_8B, params)).toBe(453_845_616);
  });

  it('sizes the decode workspace by the engine\'s plan: small batches split the context, large ones do not', () => {
    // Batches of up to 8 split until their blocks fill 2 x 132 SMs (one sequence: 64 partitions;
    // eight: 8), so the bound does not grow with the context; 16 and more run unsplit.
    expect(decodeWorkspaceBytes(LLAMA31_8B, resolveParams({ max_model_len: 131_072 }, LLAMA31_8B))).toBe(32 * 64 * 520);
    expect(decodeWorkspaceBytes(LLAMA3_8B, resolveParams({ max_model_len: 512 }, LLAMA3_8B))).toBe(8 * 32 * 8 * 520);
    expect(decodeWorkspaceBytes(LLAMA3_8B, resolveParams({ max_num_seqs: 4, max_model_len: 512 }, LLAMA3_8B))).toBe(4 * 32 * 8 * 520);
    expect(decodeWorkspaceBytes(LLAMA3_8B, resolveParams({ dtype: 'float32' }, LLAMA3_8B))).toBe(0);
  });
});

describe('plan on one GPU', () => {
  it('fits Llama-3-8B on an 80 GB GPU with the numbers of each part', () => {
    const p = plan({ model: { arch: LLAMA3_8B }, params: {}, devices: gpus('w1', 1, H100) });
    expect(p.fits).toBe(true);
    const g = p.replicas[0]!.gpus[0]!;
    expect(g.weights).toBe(8_030_261_248 * 2);
    expect(g.claim).toBe(Math.floor(0.9 * cudaTotalBytes(H100)));
    expect(g.weights + g.activations + g.cuda_graphs + g.overhead + g.kv_cache).toBe(g.claim);
    expect(g.activations).toBeGreaterThan(0.2 * GiB);
    expect(g.activations).toBeLessThan(2 * GiB);
    expect(g.kv_cache_tokens % 16).toBe(0);
    expect(g.kv_cache_tokens).toBeGreaterThan(400_000);
    expect(g.free_after).toBe(H100 - g.claim);
    expect(p.settings).toMatchObject({
      max_model_len: 8192,
      max_num_seqs: 256,
      max_num_batched_tokens: 2048,
      block_size: 16,
      dtype: 'bfloat16',
    });
    expect(p.replicas[0]!.max_concurrency).toBeGreaterThan(50);
    expect(p.message).toMatch(/^fits: 1 replica on w1 GPU 0/);
  });

  it('fits Llama-3-8B and Qwen2.5-7B on a 24 GB GPU at their default context', () => {
    const llama = plan({ model: { arch: LLAMA3_8B }, params: {}, devices: gpus('w1', 1, RTX) });
    expect(llama.fits).toBe(true);
    expect(llama.replicas[0]!.gpus[0]!.kv_cache_tokens).toBeGreaterThan(8192);
    const qwen = plan({ model: { arch: QWEN25_7B }, params: {}, devices: gpus('w1', 1, RTX) });
    expect(qwen.fits).toBe(true);
    expect(qwen.settings.max_model_len).toBe(32_768);
    expect(qwen.replicas[0]!.gpus[0]!.kv_cache_tokens).toBeGreaterThan(32_768);
  });

  it('counts CUDA graphs unless enforce_eager, and gives their memory to the KV cache', () => {
    const graphs = plan({ model: { arch: QWEN25_7B }, params: {}, devices: gpus('w1', 1, H100) })
      .replicas[0]!.gpus[0]!;
    const eager = plan({
      model: { arch: QWEN25_7B },
      params: { enforce_eager: true },
      devices: gpus('w1', 1, H100),
    }).replicas[0]!.gpus[0]!;
    // 35 graphs (batch 1, 2, 4, 8, then every 8 to 256) as deep as the model's 28 layers.
    expect(graphs.cuda_graphs).toBe(35 * 28 * CUDA_GRAPH_BYTES_PER_LAYER);
    expect(eager.cuda_graphs).toBe(0);
    // Eager, the KV cache also keeps what the graphs' fixed inputs would take.
    expect(eager.kv_cache - graphs.kv_cache).toBeGreaterThan(graphs.cuda_graphs);
    // (block tables for 256 sequences of 32,768 tokens: 2.1 MB, two 2 MiB pages)
    expect(eager.kv_cache - graphs.kv_cache).toBe(graphs.cuda_graphs + 4 * 2 ** 20);
  });

  it('refuses Llama-3.1-8B at 128K on a 24 GB GPU and offers a shorter context, or two GPUs', () => {
    const p = plan({
      model: { arch: LLAMA31_8B, context_length: 131_072 },
      params: {},
      devices: gpus('w1', 2, RTX),
    });
    expect(p.fits).toBe(false);
    expect(p.problems.join()).toMatch(/holds \d+ tokens, fewer than max_model_len 131072/);
    expect(p.breakdown).toMatchObject({ total: RTX, weights: 8_030_261_248 * 2 });
    const len = p.suggestions.find((s) => s.setting === 'max_model_len')!;
    expect(len.value).toBeGreaterThan(8192);
    expect(len.value % 16).toBe(0);
    expect(p.suggestions.find((s) => s.setting === 'tensor_parallel_size')!.value).toBe(2);
    expect(p.suggestions.some((s) => s.setting === 'gpu_memory_utilization')).toBe(false);
    expect(p.message).toMatch(
      /It would fit if you lower max_model_len to <= \d+, or spread each replica over 2 GPUs/,
    );
    // Each suggestion, applied, fits.
    expect(
      plan({
        model: { arch: LLAMA31_8B },
        params: { max_model_len: len.value },
        devices: gpus('w1', 1, RTX),
      }).fits,
    ).toBe(true);
    expect(
      plan({
        model: { arch: LLAMA31_8B, context_length: 131_072 },
        params: { tensor_parallel_size: 2 },
        devices: gpus('w1', 2, RTX),
      }).fits,
    ).toBe(true);
  });

  it('offers a higher gpu_memory_utilization when that is what is missing', () => {
    const p = plan({
      model: { arch: LLAMA3_8B },
      params: { gpu_memory_utilization: 0.7 },
      devices: gpus('w1', 1, RTX),
    });
    expect(p.fits).toBe(false);
    const util = p.suggestions.find((s) => s.setting === 'gpu_memory_utilization')!;
    expect(util.value).toBeGreaterThan(0.7);
    expect(util.message).toMatch(/^raise gpu_memory_utilization/);
    expect(
      plan({
        model: { arch: LLAMA3_8B },
        params: { gpu_memory_utilization: util.value },
        devices: gpus('w1', 1, RTX),
      }).fits,
    ).toBe(true);
  });

  it('refuses a 70B model on one GPU and names the tensor parallel size that fits', () => {
    const arch = findSpec('llama-3.1-instruct', null, 70).spec.architecture;
    const p = plan({
      model: { arch, context_length: 131_072 },
      params: {},
      devices: gpus('w1', 8, H100),
    });
    expect(p.fits).toBe(false);
    expect(p.problems.join()).toMatch(/exceed gpu_memory_utilization 0.9 × total/);
    expect(p.suggestions).toEqual([
      expect.objectContaining({ setting: 'tensor_parallel_size', value: 4 }),
    ]);
  });

  it('plans quantized weights from the bytes given', () => {
    const { spec } = findSpec('llama-3.1-instruct', 'gguf', 8, 'Q4_K_M');
    const p = plan({
      model: { arch: spec.architecture, weights_bytes: 4.9e9 },
      params: { max_model_len: 8192 },
      devices: gpus('w1', 1, RTX),
    });
    expect(p.replicas[0]!.gpus[0]!.weights).toBe(4.9e9);
  });
});

describe('settings the model cannot take', () => {
  it('refuses max_model_len beyond max_position_embeddings and a tensor parallel size the heads forbid', () => {
    const long = plan({
      model: { arch: LLAMA3_8B },
      params: { max_model_len: 10_000 },
      devices: gpus('w1', 1, H100),
    });
    expect(long.fits).toBe(false);
    expect(long.suggestions).toEqual([
      { setting: 'max_model_len', value: 8192, message: 'lower max_model_len to <= 8192' },
    ]);
    const tp = plan({
      model: { arch: QWEN25_7B },
      params: { tensor_parallel_size: 3 },
      devices: gpus('w1', 4, H100),
    });
    expect(tp.message).toMatch(
      /tensor_parallel_size 3 does not divide the model's 28 attention heads and 4 KV heads; use one of 1, 2, 4/,
    );
  });

  it('throws PlanInputError naming a setting out of range', () => {
    expect(() =>
      plan({ model: { arch: LLAMA3_8B }, params: { gpu_memory_utilization: 1.5 }, devices: [] }),
    ).toThrow(PlanInputError);
    try {
      plan({ model: { arch: LLAMA3_8B }, params: { max_num_seqs: 0 }, devices: [] });
    } catch (err) {
      expect((err as PlanInputError).param).toBe('max_num_seqs');
    }
    expect(() =>
      plan({ model: { arch: LLAMA3_8B }, params: {}, devices: gpus('w', 1, H100), replicas: 0 }),
    ).toThrow(/replica must be a positive integer/);
  });

  it('refuses when the cluster has no GPUs', () => {
    expect(plan({ model: { arch: LLAMA3_8B }, params: {}, devices: [] }).message).toMatch(
      /reports no GPUs/,
    );
  });
});

describe('placement', () => {
  it('goes to the worker with the most free memory, not the fewest models', () => {
    const devices = [
      ...gpus('busy', 1, H100, { claimed: 60 * GiB }),
      ...gpus('idle', 1, H100, { used: 5 * GiB }),
    ];
    const p = plan({
      model: { arch: QWEN25_7B },
      params: { gpu_memory_utilization: 0.3 },
      devices,
    });
    expect(p.replicas.map((r) => r.worker)).toEqual(['idle']);
    expect(p.replicas[0]!.gpus[0]!.available).toBe(75 * GiB);
  });

  it('lets two small models share a GPU when their claims fit, and says how to make a third fit', () => {
    const first = plan({
      model: { arch: QWEN25_7B },
      params: { gpu_memory_utilization: 0.4 },
      devices: gpus('w1', 1, H100),
    });
    expect(first.fits).toBe(true);
    const claimed = first.claims[0]!.bytes;
    const second = plan({
      model: { arch: QWEN25_7B },
      params: { gpu_memory_utilization: 0.4 },
      devices: gpus('w1', 1, H100, { claimed }),
    });
    expect(second.fits).toBe(true);
    const third = plan({
      model: { arch: LLAMA3_8B },
      params: {},
      devices: gpus('w1', 1, H100, { claimed: 2 * claimed }),
    });
    expect(third.fits).toBe(false);
    const gib = (n: number) => (n / GiB).toFixed(2);
    expect(third.problems.join()).toContain(
      `GPU 0 has ${gib(H100 - 2 * claimed)} GiB available of 80.00 GiB, a shard claims ${gib(Math.floor(0.9 * cudaTotalBytes(H100)))} GiB`,
    );
    expect(third.suggestions).toEqual([]);
    const roomier = plan({
      model: { arch: LLAMA3_8B },
      params: {},
      devices: gpus('w1', 1, H100, { claimed: claimed }),
    });
    expect(roomier.suggestions).toEqual([
      expect.objectContaining({
        setting: 'gpu_memory_utilization',
        message: expect.stringMatching(
          /^lower gpu_memory_utilization to 0\.\d+ so that it fits beside/,
        ),
      }),
    ]);
  });

  it('spreads replicas over GPUs by room, and stacks them when only one GPU has room', () => {
    const spread = plan({
      model: { arch: QWEN25_7B },
      params: { gpu_memory_utilization: 0.4 },
      devices: gpus('w1', 2, H100),
      replicas: 2,
    });
    expect(spread.replicas.map((r) => r.gpu_indices)).toEqual([[0], [1]]);
    const devices = [
      ...gpus('w1', 1, H100),
      { worker: 'w1', index: 1, total: H100, used: 70 * GiB },
    ];
    const stacked = plan({
      model: { arch: QWEN25_7B },
      params: { gpu_memory_utilization: 0.4 },
      devices,
      replicas: 2,
    });
    expect(stacked.replicas.map((r) => r.gpu_indices)).toEqual([[0], [0]]);
    expect(stacked.claims).toEqual([{ worker: 'w1', index: 0, bytes: 2 * Math.floor(0.4 * cudaTotalBytes(H100)) }]);
    const tooMany = plan({
      model: { arch: QWEN25_7B },
      params: { gpu_memory_utilization: 0.4 },
      devices,
      replicas: 3,
    });
    expect(tooMany.problems[0]).toBe('only 2 of 3 replicas found room');
  });

  it('keeps a tensor-parallel replica on one worker', () => {
    const devices = [...gpus('a', 1, H100), ...gpus('b', 2, H100)];
    const p = plan({ model: { arch: LLAMA3_8B }, params: { tensor_parallel_size: 2 }, devices });
    expect(p.replicas).toMatchObject([{ worker: 'b', gpu_indices: [0, 1] }]);
    const none = plan({
      model: { arch: LLAMA3_8B },
      params: { tensor_parallel_size: 2 },
      devices: [...gpus('a', 1, H100), ...gpus('c', 1, H100)],
    });
    expect(none.problems.join()).toMatch(/a has 1 eligible GPU, tensor_parallel_size needs 2/);
  });

  it('draws the numbers and suggestions of a refusal from the named worker only', () => {
    const devices = [...gpus('small', 2, RTX), ...gpus('big', 1, H100)];
    const p = plan({
      model: { arch: LLAMA31_8B, context_length: 131_072 },
      params: {},
      devices,
      worker_ip: 'small',
    });
    expect(p.fits).toBe(false);
    expect(p.breakdown).toMatchObject({ worker: 'small', total: RTX });
    expect(p.suggestions.find((s) => s.setting === 'tensor_parallel_size')?.value).toBe(2);
    expect(
      plan({ model: { arch: LLAMA31_8B, context_length: 131_072 }, params: {}, devices })
        .replicas[0]!.worker,
    ).toBe('big');
  });

  it('honours worker_ip (id or address) and gpu_idx, and says when they name nothing', () => {
    const devices = [
      ...gpus('a', 2, H100, { worker_ip: '10.0.0.1' }),
      ...gpus('b', 2, H100, { worker_ip: '10.0.0.2', used: 5 * GiB }),
    ];
    const byIp = plan({
      model: { arch: QWEN25_7B },
      params: {},
      devices,
      worker_ip: '10.0.0.2',
      gpu_idx: [1],
    });
    expect(byIp.replicas).toMatchObject([{ worker: 'b', gpu_indices: [1] }]);
    expect(
      plan({ model: { arch: QWEN25_7B }, params: {}, devices, worker_ip: 'a' }).replicas[0]!.worker,
    ).toBe('a');
    expect(
      plan({ model: { arch: QWEN25_7B }, params: {}, devices, worker_ip: '10.9.9.9' }).message,
    ).toMatch(/no worker '10.9.9.9' with GPUs; workers: a \(10.0.0.1\), b \(10.0.0.2\)/);
    expect(plan({ model: { arch: QWEN25_7B }, params: {}, devices, gpu_idx: [5] }).message).toMatch(
      /gpu_idx 5 does not exist on any worker/,
    );
  });
});

describe('embedding and rerank models (the pooling run)', () => {
  const BGE_M3 = findSpec('bge-m3').spec.architecture;
  const RERANKER = findSpec('bge-reranker-v2-m3').spec.architecture;

  it('claim what they use (weights, activations of an 8192-token forward, overhead), with no KV cache', () => {
    const p = plan({ model: { arch: BGE_M3, context_length: 8192 }, params: {}, devices: gpus('w1', 1, RTX) });
    expect(p.fits, p.message).toBe(true);
    const b = p.replicas[0]!.gpus[0]!;
    expect(b.kv_cache).toBe(0);
    expect(b.cuda_graphs).toBe(0);
    expect(b.claim).toBe(b.weights + b.activations + b.overhead);
    expect(p.settings.max_num_batched_tokens).toBe(8192);
    // bge-m3: 568 M parameters (published), at the 16-bit compute dtype a float32 checkpoint runs in.
    expect(b.weights / 2).toBeGreaterThan(0.56e9);
    expect(b.weights / 2).toBeLessThan(0.58e9);
    expect(b.claim).toBeLessThan(0.3 * RTX);
  });

  it('fit several to a GPU beside an LLM, where each at the default 0.9 would take the card', () => {
    const llm = plan({ model: { arch: LLAMA31_8B }, params: { gpu_memory_utilization: 0.6, max_model_len: 8192 }, devices: gpus('w1', 1, H100) });
    const embed = plan({ model: { arch: BGE_M3 }, params: {}, devices: gpus('w1', 1, H100) });
    const rerank = plan({ model: { arch: RERANKER }, params: {}, devices: gpus('w1', 1, H100) });
    const claimed = [llm, embed, rerank].reduce((n, p) => n + p.claims[0]!.bytes, 0);
    expect(claimed).toBeLessThan(H100);
    expect(embed.claims[0]!.bytes).toBeLessThan(0.1 * H100);
  });

  it('take an explicit gpu_memory_utilization as the claim, and refuse one too small for the weights', () => {
    const given = plan({ model: { arch: BGE_M3 }, params: { gpu_memory_utilization: 0.5 }, devices: gpus('w1', 1, RTX) });
    expect(given.fits).toBe(true);
    expect(given.claims[0]!.bytes).toBe(Math.floor(0.5 * cudaTotalBytes(RTX)));
    const tiny = plan({ model: { arch: BGE_M3 }, params: { gpu_memory_utilization: 0.05 }, devices: gpus('w1', 1, RTX) });
    expect(tiny.fits).toBe(false);
  });
});
