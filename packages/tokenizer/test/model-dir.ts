// Test helper: a temporary copy of the stories260k tokenizer files, with edits, for config variants and bad files.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const STORIES_DIR = new URL('../../../../shared/models/stories260k', import.meta.url).pathname;
export const GOLDEN_DIR = new URL('../../../../shared/fixtures/golden', import.meta.url).pathname;

const FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];
const made: string[] = [];

export function readGolden<T>(name: string): T {
  return JSON.parse(readFileSync(join(GOLDEN_DIR, name), 'utf8')) as T;
}

export function readStoriesJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(STORIES_DIR, file), 'utf8')) as Record<string, unknown>;
}

/** Copies the stories260k tokenizer files to a fresh folder; `files` overrides (string: raw text, null: delete). */
export function makeModelDir(files: Record<string, object | string | null> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'pagoda-tokenizer-'));
  made.push(dir);
  for (const file of FILES) copyFileSync(join(STORIES_DIR, file), join(dir, file));
  for (const [file, content] of Object.entries(files)) {
    const path = join(dir, file);
    if (content === null) rmSync(path);
    else writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

export function removeModelDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
