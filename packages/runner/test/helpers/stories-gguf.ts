// Test helper: stories260k converted to GGUF by @pagoda/gguf's converter, once per test process.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertLlamaToGguf, type OutType } from '@pagoda/gguf';
import { STORIES } from './serve-process.ts';

const made = new Map<OutType, string>();
let dir: string | null = null;

export function storiesGguf(outtype: OutType = 'f32'): string {
  let path = made.get(outtype);
  if (!path) {
    dir ??= mkdtempSync(join(tmpdir(), 'pagoda-gguf-'));
    path = join(dir, `stories260k-${outtype}.gguf`);
    convertLlamaToGguf({ dir: STORIES, out: path, outtype, name: 'stories260k' });
    made.set(outtype, path);
  }
  return path;
}
