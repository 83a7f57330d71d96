// Writes GGUF v3 files: typed metadata, then the tensor table, then aligned tensor data. Tensor data
// is produced one tensor at a time while writing, so large files never sit in memory whole.
import { closeSync, openSync, writeSync } from 'node:fs';
import { GgufValueType, tensorBytes } from './ggml-types.ts';

type Scalar =
  'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'str' | 'u64' | 'i64' | 'f64';

export type GgufEntry =
  | { type: Exclude<Scalar, 'str' | 'bool' | 'u64' | 'i64'>; value: number }
  | { type: 'u64' | 'i64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'str'; value: string }
  | { type: 'array'; of: 'str'; value: string[] }
  | { type: 'array'; of: Exclude<Scalar, 'str' | 'bool'>; value: number[] };

export interface GgufTensorSource {
  name: string;
  /** ggml order: innermost dimension first (the reverse of a safetensors/numpy shape). */
  dims: number[];
  type: number;
  /** Produces the tensor's bytes when the writer reaches it. */
  data: () => Buffer;
}

const TYPE_CODE: Record<Scalar, number> = {
  u8: GgufValueType.UINT8,
  i8: GgufValueType.INT8,
  u16: GgufValueType.UINT16,
  i16: GgufValueType.INT16,
  u32: GgufValueType.UINT32,
  i32: GgufValueType.INT32,
  f32: GgufValueType.FLOAT32,
  bool: GgufValueType.BOOL,
  str: GgufValueType.STRING,
  u64: GgufValueType.UINT64,
  i64: GgufValueType.INT64,
  f64: GgufValueType.FLOAT64,
};

const ALIGNMENT = 32;

/** Growable little-endian byte buffer for the header. */
class Bytes {
  private chunks: Buffer[] = [];
  length = 0;
  private push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  scalar(type: Scalar, v: number | bigint | boolean | string): void {
    if (type === 'str') {
      const s = Buffer.from(v as string, 'utf8');
      this.scalar('u64', s.length);
      this.push(s);
      return;
    }
    const size = {
      u8: 1,
      i8: 1,
      bool: 1,
      u16: 2,
      i16: 2,
      u32: 4,
      i32: 4,
      f32: 4,
      u64: 8,
      i64: 8,
      f64: 8,
    }[type];
    const b = Buffer.alloc(size);
    if (type === 'u8') b.writeUInt8(v as number);
    else if (type === 'i8') b.writeInt8(v as number);
    else if (type === 'bool') b.writeUInt8(v ? 1 : 0);
    else if (type === 'u16') b.writeUInt16LE(v as number);
    else if (type === 'i16') b.writeInt16LE(v as number);
    else if (type === 'u32') b.writeUInt32LE(v as number);
    else if (type === 'i32') b.writeInt32LE(v as number);
    else if (type === 'f32') b.writeFloatLE(v as number);
    else if (type === 'f64') b.writeDoubleLE(v as number);
    else if (type === 'u64') b.writeBigUInt64LE(BigInt(v as number));
    else b.writeBigInt64LE(BigInt(v as number));
    this.push(b);
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const alignUp = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** Writes `metadata` (in insertion order) and `tensors` to a GGUF v3 file at `path`. */
export function writeGguf(
  path: string,
  metadata: Map<string, GgufEntry>,
  tensors: GgufTensorSource[],
): void {
  const h = new Bytes();
  h.scalar('u32', 0x46554747);
  h.scalar('u32', 3);
  h.scalar('u64', tensors.length);
  h.scalar('u64', metadata.size);
  for (const [key, e] of metadata) {
    h.scalar('str', key);
    if (e.type === 'array') {
      h.scalar('u32', GgufValueType.ARRAY);
      h.scalar('u32', TYPE_CODE[e.of]);
      h.scalar('u64', e.value.length);
      for (const v of e.value) h.scalar(e.of, v);
    } else {
      h.scalar('u32', TYPE_CODE[e.type]);
      h.scalar(e.type, e.value);
    }
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    h.scalar('str', t.name);
    h.scalar('u32', t.dims.length);
    for (const d of t.dims) h.scalar('u64', d);
    h.scalar('u32', t.type);
    h.scalar('u64', offset);
    const bytes = tensorBytes(
      t.type,
      t.dims.reduce((a, b) => a * b, 1),
    );
    sizes.push(bytes);
    offset = alignUp(offset + bytes);
  }
  const fd = openSync(path, 'w');
  try {
    const header = h.concat();
    writeSync(fd, header);
    let pos = header.length;
    const pad = (to: number) => {
      if (to > pos) writeSync(fd, Buffer.alloc(to - pos));
      pos = to;
    };
    pad(alignUp(pos));
    for (const [i, t] of tensors.entries()) {
      const data = t.data();
      if (data.length !== sizes[i])
        throw new Error(
          `tensor ${t.name}: ${data.length} bytes given, its type and shape need ${sizes[i]}`,
        );
      writeSync(fd, data);
      pos += data.length;
      if (i < tensors.length - 1) pad(alignUp(pos));
    }
  } finally {
    closeSync(fd);
  }
}
