// Minimal safetensors for the converter and its benchmark: read the header and one tensor as float32;
// write BF16 tensors produced one at a time.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { toBf16Bits } from './tensor-encode.ts';

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
}

export class SafetensorsFile {
  readonly entries = new Map<string, SafetensorsEntry>();

  constructor(readonly path: string) {
    const fd = openSync(path, 'r');
    try {
      const len = Buffer.alloc(8);
      readSync(fd, len, 0, 8, 0);
      const n = Number(len.readBigUInt64LE());
      const json = Buffer.alloc(n);
      readSync(fd, json, 0, n, 8);
      const header = JSON.parse(json.toString('utf8')) as Record<
        string,
        { dtype: string; shape: number[]; data_offsets: [number, number] }
      >;
      for (const [name, e] of Object.entries(header)) {
        if (name === '__metadata__') continue;
        this.entries.set(name, {
          dtype: e.dtype,
          shape: e.shape,
          start: 8 + n + e.data_offsets[0],
          end: 8 + n + e.data_offsets[1],
        });
      }
    } finally {
      closeSync(fd);
    }
  }

  /** The tensor's values widened to float32 (F32, F16 and BF16 files). */
  read(name: string): { shape: number[]; values: Float32Array } {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path} has no tensor ${name}`);
    const raw = Buffer.alloc(e.end - e.start);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, raw, 0, raw.length, e.start);
    } finally {
      closeSync(fd);
    }
    const count = e.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    if (e.dtype === 'F32') for (let i = 0; i < count; i++) values[i] = raw.readFloatLE(i * 4);
    else if (e.dtype === 'BF16') {
      const u = new Uint32Array(values.buffer);
      for (let i = 0; i < count; i++) u[i] = raw.readUInt16LE(i * 2) << 16;
    } else if (e.dtype === 'F16')
      for (let i = 0; i < count; i++) values[i] = halfToFloat(raw.readUInt16LE(i * 2));
    else throw new Error(`tensor ${name} is ${e.dtype}; the converter reads F32, F16 and BF16`);
    return { shape: e.shape, values };
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Writes BF16 tensors to a safetensors file; each tensor's values are produced when it is written. */
export function writeSafetensorsBf16(
  path: string,
  tensors: Array<{ name: string; shape: number[]; values: () => Float32Array }>,
): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, json);
    for (const t of tensors) {
      const v = t.values();
      const out = Buffer.alloc(v.length * 2);
      for (let i = 0; i < v.length; i++) out.writeUInt16LE(toBf16Bits(v[i]!), i * 2);
      writeSync(fd, out);
    }
  } finally {
    closeSync(fd);
  }
}
