// One naming convention for TypeScript files: kebab-case (what runner, tokenizer, engine and db
// already used), PascalCase only for React components (the dashboard's components/ and pages/, App).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './source-files.ts';

const KEBAB = /^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*\.(?:ts|tsx|mts|cts)$/;
const COMPONENT = /^[A-Z][A-Za-z0-9]*\.tsx$/;

/** Whether a TypeScript file's name follows the convention for where it lives. */
export function wellNamed(path: string): boolean {
  const name = path.split('/').at(-1)!;
  // Locale files are named by their BCP 47 tag (zh-CN).
  if (/^apps\/[^/]+\/src\/i18n\/[a-z]{2}(?:-[A-Z]{2})?\.ts$/.test(path)) return true;
  if (/^apps\/[^/]+\/src\/(?:components|pages)\//.test(path) || /^apps\/[^/]+\/src\/App\.tsx$/.test(path)) return COMPONENT.test(name);
  return KEBAB.test(name);
}

function typescriptFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (['node_modules', 'dist', 'generated', 'build', 'data'].includes(name) || name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) typescriptFiles(full, out);
    else if (/\.(?:ts|tsx|mts|cts)$/.test(name) && !name.endsWith('.d.ts')) out.push(relative(ROOT, full).split('\\').join('/'));
  }
  return out;
}

describe('file names', () => {
  it('tells kebab-case and component names from the rest', () => {
    expect(['packages/a/src/log-tail.ts', 'packages/a/test/bad-input.test.ts', 'apps/d/src/components/ModelCard.tsx', 'apps/d/src/App.tsx', 'apps/d/src/api/use-poll.ts'].every(wellNamed)).toBe(true);
    expect(['packages/a/src/log_tail.ts', 'apps/d/src/api/usePoll.ts', 'apps/d/src/components/model-card.tsx', 'packages/a/src/Tokenizer.ts'].some(wellNamed)).toBe(false);
  });

  it('every TypeScript file in packages, apps, test and scripts follows the convention', () => {
    const files = ['packages', 'apps', 'test', 'scripts'].flatMap((d) => typescriptFiles(join(ROOT, d)));
    expect(files.length).toBeGreaterThan(200);
    expect(files.filter((f) => !wellNamed(f))).toEqual([]);
  });
});
