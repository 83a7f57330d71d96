// Model names for the builtin engine: a path as given, else a name under PAGODA_MODEL_DIR.
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { resolveModelPath } from '../src/model-path.ts';
import { STORIES } from './helpers/serve-process.ts';

it('takes a path as given and finds registered names under PAGODA_MODEL_DIR', () => {
  const dir = mkdtempSync(join(tmpdir(), 'models-'));
  symlinkSync(STORIES, join(dir, 'stories'));
  expect(resolveModelPath(STORIES)).toBe(STORIES);
  expect(resolveModelPath('stories', { PAGODA_MODEL_DIR: dir })).toBe(join(dir, 'stories'));
  expect(() => resolveModelPath('missing', { PAGODA_MODEL_DIR: dir })).toThrow(
    `model 'missing' not found: it is neither a checkpoint folder nor a name under ${dir}`,
  );
});
