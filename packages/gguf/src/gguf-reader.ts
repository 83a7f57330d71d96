// Reads a GGUF file's header (metadata and tensor table) without touching the tensor data, so a
// multi-gigabyte file costs a few reads. Used for memory plans, chat templates and file checks.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { GGML_BLOCKS, GgufValueType, tensorBytes } from './ggml-types.ts';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the innermost (contiguous) dimension. */
  dims: number[];
  type: number;
  /** Byte offset from the start of the data section. */
  offset: number;
  bytes: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** Where tensor data starts in the file. */
  dataOffset: number;
  fileBytes: number;
}

export class GgufFormatError extends Error {
  override name = 'GgufFormatError';
}

const MAGIC = 0x46554747; // "GGUF" little-endian

/** Buffered reads from a file descriptor at a moving position. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  private ensure(n: number): void {
    if (this.pos + n > this.size)
      throw new GgufFormatError('the file ends inside its GGUF header (truncated or not GGUF)');
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const want = Math.max(n, 1 << 20);
    this.buf = Buffer.alloc(Math.min(want, this.size - this.pos));
    readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
    this.bufStart = this.pos;
  }

  /** Where n bytes at the position lie in buf (which may be refilled: read buf only after this). */
  private take(n: number): number {
    this.ensure(n);
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u8 = () => {
    const at = this.take(1);
    return this.buf.readUInt8(at);
  };
  i8 = () => {
    const at = this.take(1);
    return this.buf.readInt8(at);
  };
  u16 = () => {
    const at = this.take(2);
    return this.buf.readUInt16LE(at);
  };
  i16 = () => {
    const at = this.take(2);
    return this.buf.readInt16LE(at);
  };
  u32 = () => {
    const at = this.take(4);
    return this.buf.readUInt32LE(at);
  };
  i32 = () => {
    const at = this.take(4);
    return this.buf.readInt32LE(at);
  };
  f32 = () => {
    const at = this.take(4);
    return this.buf.readFloatLE(at);
  };
  f64 = () => {
    const at = this.take(8);
    return this.buf.readDoubleLE(at);
  };
  i64 = () => {
    const at = this.take(8);
    return this.buf.readBigInt64LE(at);
  };
  u64big = () => {
    const at = this.take(8);
    return this.buf.readBigUInt64LE(at);
  };

  /** A u64 that must fit a JavaScript number (counts, lengths, offsets). */
  u64(): number {
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new GgufFormatError(`a count of ${v} is too large`);
    return Number(v);
  }

  str(): string {
    const len = this.u64();
    const at = this.take(len);
    return this.buf.toString('utf8', at, at + len);
  }
}

function readValue(c: Cursor, type: number): GgufValue {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return c.f32();
    case GgufValueType.BOOL:
      return c.u8() !== 0;
    case GgufValueType.STRING:
      return c.str();
    case GgufValueType.UINT64: {
      const v = c.u64big();
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case GgufValueType.INT64: {
      const v = c.i64();
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(v)
        : v;
    }
    case GgufValueType.FLOAT64:
      return c.f64();
    case GgufValueType.ARRAY: {
      const elemType = c.u32();
      const n = c.u64();
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, elemType);
      return out;
    }
    default:
      throw new GgufFormatError(`unknown GGUF metadata value type ${type}`);
  }
}

/** Reads the header of the GGUF file at `path`; throws GgufFormatError when it is not a GGUF v2/v3 file. */
export function readGgufHeader(path: string): GgufHeader {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size);
    if (size < 8 || c.u32() !== MAGIC) throw new GgufFormatError(`not a GGUF file (no GGUF magic)`);
    const version = c.u32();
    if (version !== 2 && version !== 3)
      throw new GgufFormatError(`GGUF version ${version} is not supported (2 and 3 are)`);
    const tensorCount = c.u64();
    const kvCount = c.u64();
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = c.str();
      metadata.set(key, readValue(c, c.u32()));
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.str();
      const nDims = c.u32();
      if (nDims > 4)
        throw new GgufFormatError(`tensor ${name} has ${nDims} dimensions (at most 4)`);
      const dims = Array.from({ length: nDims }, () => c.u64());
      const type = c.u32();
      if (!GGML_BLOCKS[type]) throw new GgufFormatError(`tensor ${name} has unknown type ${type}`);
      const offset = c.u64();
      const elements = dims.reduce((a, b) => a * b, 1);
      tensors.push({ name, dims, type, offset, bytes: tensorBytes(type, elements) });
    }
    const alignment = Number(metadata.get('general.alignment') ?? 32);
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    for (const t of tensors) {
      if (dataOffset + t.offset + t.bytes > size)
        throw new GgufFormatError(`tensor ${t.name} lies past the end of the file (truncated)`);
    }
    return { version, metadata, tensors, dataOffset, fileBytes: size };
  } finally {
    closeSync(fd);
  }
}

/** A metadata value of the expected kind, or undefined. */
export function ggufString(h: GgufHeader, key: string): string | undefined {
  const v = h.metadata.get(key);
  return typeof v === 'string' ? v : undefined;
}

export function ggufNumber(h: GgufHeader, key: string): number | undefined {
  const v = h.metadata.get(key);
  return typeof v === 'number' ? v : undefined;
}
