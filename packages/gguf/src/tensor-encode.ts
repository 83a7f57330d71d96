// float32 values → the bytes of a GGUF tensor type (F32, F16, BF16, Q8_0), rounding as ggml does.
import { GgmlType } from './ggml-types.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half from a float, round to nearest even (as numpy's astype(float16), which the converter uses). */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m += 1;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m += 1;
    if (m === 0x400) {
      m = 0;
      e += 1;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** bfloat16 bits from a float, round to nearest even (NaN kept quiet), as gguf-py does. */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 64) & 0xffff;
  return ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16) & 0xffff;
}

/** Rounds half away from zero, as ggml's Q8_0 reference does. */
const roundAway = (v: number) => Math.sign(v) * Math.floor(Math.abs(v) + 0.5);

/** Q8_0: blocks of 32 values as one f16 scale (max |x| / 127) and 32 int8 quants. */
function encodeQ8_0(values: Float32Array): Buffer {
  const blocks = values.length / 32;
  const out = Buffer.alloc(blocks * 34);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(values[b * 32 + i]!));
    const d = amax / 127;
    const id = d === 0 ? 0 : 1 / d;
    out.writeUInt16LE(toHalfBits(d), b * 34);
    for (let i = 0; i < 32; i++) out.writeInt8(roundAway(values[b * 32 + i]! * id), b * 34 + 2 + i);
  }
  return out;
}

export function encodeTensor(values: Float32Array, type: number): Buffer {
  switch (type) {
    case GgmlType.F32:
      return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    case GgmlType.F16:
    case GgmlType.BF16: {
      const out = Buffer.alloc(values.length * 2);
      const conv = type === GgmlType.F16 ? toHalfBits : toBf16Bits;
      for (let i = 0; i < values.length; i++) out.writeUInt16LE(conv(values[i]!), i * 2);
      return out;
    }
    case GgmlType.Q8_0:
      return encodeQ8_0(values);
    default:
      throw new Error(`encoding to ggml type ${type} is not supported (F32, F16, BF16, Q8_0 are)`);
  }
}
