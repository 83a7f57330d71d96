// The repository's TypeScript sources as the structure tests read them: every file under
// packages/*/src and apps/*/src, with its text and the modules it imports or re-exports.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface SourceFile {
  /** Relative to the repository root, with '/'. */
  path: string;
  text: string;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name === 'generated') continue;
    if (statSync(full).isDirectory()) walk(full, out);
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts')) out.push(full);
  }
}

/** Every source file of every workspace package and app (not tests, not generated code). */
export function sourceFiles(): SourceFile[] {
  const files: string[] = [];
  for (const group of ['packages', 'apps']) {
    for (const pkg of readdirSync(join(ROOT, group))) {
      const src = join(ROOT, group, pkg, 'src');
      if (existsSync(src)) walk(src, files);
    }
  }
  return files
    .sort()
    .map((f) => ({ path: relative(ROOT, f).split('\\').join('/'), text: readFileSync(f, 'utf8') }));
}

/** Module specifiers of a file's import / export-from / dynamic import statements, type-only ones included. */
export function importSpecifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specs: string[] = [];
  for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?\sfrom\s+['"]([^'"]+)['"]/g))
    specs.push(m[1]!);
  for (const m of code.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) specs.push(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]!);
  return specs;
}

/** The workspace packages by name, each with the source file its "." export points at. */
export function workspaceEntries(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const group of ['packages', 'apps']) {
    for (const pkg of readdirSync(join(ROOT, group))) {
      const manifest = join(ROOT, group, pkg, 'package.json');
      if (!existsSync(manifest)) continue;
      const m = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name: string;
        exports?: Record<string, unknown>;
      };
      const entry = m.exports?.['.'];
      if (typeof entry === 'string' && entry.endsWith('.ts'))
        entries.set(m.name, `${group}/${pkg}/${entry.replace(/^\.\//, '')}`);
    }
  }
  return entries;
}

/** The repository path a specifier in `from` names: relative files and workspace packages; null otherwise. */
export function resolveImport(
  from: string,
  spec: string,
  entries: Map<string, string>,
): string | null {
  if (spec.startsWith('.'))
    return relative(ROOT, resolve(ROOT, dirname(from), spec))
      .split('\\')
      .join('/');
  return entries.get(spec) ?? null;
}
