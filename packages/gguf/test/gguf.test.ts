// GGUF files as this package writes and reads them: headers round-trip, the converter's choices
// (llama.cpp's keys, Q/K permutation, per-tensor types), half/bfloat16 rounding, and bad files refused.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  convertLlamaToGguf,
  GgmlType,
  ggufModelSummary,
  GgufFormatError,
  llama3RopeFactors,
  permuteRope,
  readGgufHeader,
  writeGguf,
  type GgufEntry,
} from '../src/index.ts';
import { toBf16Bits, toHalfBits } from '../src/tensor-encode.ts';

const STORIES = resolve(import.meta.dirname, '../../../../shared/models/stories260k');
const TINY_LLAMA3 = resolve(import.meta.dirname, '../../../../shared/models/tiny-llama3');
const scratch = mkdtempSync(join(tmpdir(), 'pagoda-gguf-test-'));

describe('GGUF header round trip', () => {
  it('reads back every metadata type, array and tensor table it wrote', () => {
    const path = join(scratch, 'rt.gguf');
    const meta = new Map<string, GgufEntry>([
      ['general.architecture', { type: 'str', value: 'llama' }],
      ['a.u32', { type: 'u32', value: 4_000_000_000 }],
      ['a.i32', { type: 'i32', value: -5 }],
      ['a.f32', { type: 'f32', value: 0.5 }],
      ['a.bool', { type: 'bool', value: true }],
      ['a.u64', { type: 'u64', value: 2 ** 40 }],
      ['a.strs', { type: 'array', of: 'str', value: ['x', 'ünï', ''] }],
      ['a.f32s', { type: 'array', of: 'f32', value: [1, -2.5] }],
    ]);
    writeGguf(path, meta, [
      { name: 't.a', dims: [32, 2], type: GgmlType.F32, data: () => Buffer.alloc(256) },
      { name: 't.b', dims: [64], type: GgmlType.Q8_0, data: () => Buffer.alloc(68) },
    ]);
    const h = readGgufHeader(path);
    expect(h.version).toBe(3);
    expect(Object.fromEntries(h.metadata)).toEqual({
      'general.architecture': 'llama',
      'a.u32': 4_000_000_000,
      'a.i32': -5,
      'a.f32': 0.5,
      'a.bool': true,
      'a.u64': 2 ** 40,
      'a.strs': ['x', 'ünï', ''],
      'a.f32s': [1, -2.5],
    });
    expect(h.tensors.map((t) => [t.name, t.dims, t.type, t.offset, t.bytes])).toEqual([
      ['t.a', [32, 2], GgmlType.F32, 0, 256],
      ['t.b', [64], GgmlType.Q8_0, 256, 68],
    ]);
    expect(h.dataOffset % 32).toBe(0);
  });

  it('refuses a file that is not GGUF, and one cut short', () => {
    const notGguf = join(scratch, 'not.gguf');
    writeFileSync(notGguf, 'hello world, not a model');
    expect(() => readGgufHeader(notGguf)).toThrow(GgufFormatError);
    const cut = join(scratch, 'cut.gguf');
    writeGguf(cut, new Map([['general.architecture', { type: 'str', value: 'llama' }]]), [
      { name: 't', dims: [1024], type: GgmlType.F32, data: () => Buffer.alloc(4096) },
    ]);
    writeFileSync(cut, readFileSync(cut).subarray(0, 200));
    expect(() => readGgufHeader(cut)).toThrow(/truncated/);
  });
});

describe('number formats', () => {
  it('rounds to half and bfloat16 to nearest even, with overflow, subnormals and NaN', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(toHalfBits(2 ** -24)).toBe(0x0001);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // a tie: stays even
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // a tie: rounds up to even
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toBf16Bits(1)).toBe(0x3f80);
    expect(toBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // a tie: stays even
    expect(toBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  it('permutes Q/K rows from rotate_half order to adjacent pairs, per head', () => {
    // 2 heads of head_dim 4, one column: rows h*4 + [0,1,2,3] = (pair0.a, pair1.a, pair0.b, pair1.b)
    const w = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
    expect([...permuteRope(w, 2, 1)]).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
  });
});

describe('the Llama converter', () => {
  it('writes stories260k with llama.cpp keys, its vocabulary, and per-tensor types for Q8_0', () => {
    const path = join(scratch, 'stories-q8.gguf');
    convertLlamaToGguf({ dir: STORIES, out: path, outtype: 'q8_0', name: 'stories260k' });
    const h = readGgufHeader(path);
    expect(h.metadata.get('general.architecture')).toBe('llama');
    expect(h.metadata.get('llama.block_count')).toBe(5);
    expect(h.metadata.get('llama.attention.head_count_kv')).toBe(4);
    expect(h.metadata.get('llama.rope.dimension_count')).toBe(8);
    expect(h.metadata.get('general.file_type')).toBe(7);
    const tokens = h.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(tokens).toHaveLength(512);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect((h.metadata.get('tokenizer.ggml.token_type') as number[]).slice(0, 4)).toEqual([
      2, 3, 3, 6,
    ]);
    const type = (name: string) => h.tensors.find((t) => t.name === name)?.type;
    expect(type('blk.0.attn_norm.weight')).toBe(GgmlType.F32);
    expect(type('blk.0.attn_q.weight')).toBe(GgmlType.Q8_0);
    // ffn_down rows hold 172 values, not a multiple of 32: F16, as llama.cpp's converter falls back
    expect(type('blk.0.ffn_down.weight')).toBe(GgmlType.F16);
    expect(h.tensors.some((t) => t.name === 'output.weight')).toBe(false); // tied embeddings
    const s = ggufModelSummary(h);
    expect(s).toMatchObject({
      quantization: 'Q8_0',
      context_length: 512,
      block_count: 5,
      head_dim: 8,
      vocab_size: 512,
    });
    expect(s.weight_bytes).toBe(h.tensors.reduce((a, t) => a + t.bytes, 0));
    expect(s.weight_bytes).toBeLessThan(1_044_992 / 2); // Q8_0 is well under the f32 checkpoint
  });

  it('writes Llama 3.1 rope scaling as rope_freqs.weight: kept high frequencies, divided low ones, a blend between', () => {
    const path = join(scratch, 'tiny-llama3.gguf');
    convertLlamaToGguf({ dir: TINY_LLAMA3, out: path, outtype: 'f16' });
    const h = readGgufHeader(path);
    const freqs = h.tensors.find((t) => t.name === 'rope_freqs.weight');
    expect(freqs).toMatchObject({ type: GgmlType.F32, dims: [32] }); // head_dim 64 / 2
    expect(h.metadata.has('llama.rope.scaling.type')).toBe(false);
    // tiny-llama3: theta 500000, factor 8, low 1, high 4, original context 256
    const f = llama3RopeFactors(
      {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 256,
      },
      500000,
      64,
    );
    expect(f[0]).toBe(1); // wavelength 2π, far below 256 / 4
    expect(f[31]).toBe(8); // wavelength ~3.7e5, far above 256
    // i = 6: wavelength 2π·500000^(12/64) ≈ 74.4, between 64 and 256: 1 / ((1 - s) / 8 + s), s = (256 / 74.4 - 1) / 3
    const s = (256 / (2 * Math.PI * 500000 ** (12 / 64)) - 1) / 3;
    expect(f[6]).toBeCloseTo(1 / ((1 - s) / 8 + s), 5);
    expect([...f].every((v, i) => i === 0 || v >= f[i - 1]!)).toBe(true);
    expect(() =>
      llama3RopeFactors(
        { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 },
        500000,
        64,
      ),
    ).toThrow(/original_max_position_embeddings/);
  });
});
