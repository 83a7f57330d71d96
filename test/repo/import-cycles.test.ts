// No import cycles among the source files of packages/*/src and apps/*/src: type-only imports count,
// and so do imports of a workspace package (they lead to the file its "." export names).
import { describe, expect, it } from 'vitest';
import { importSpecifiers, resolveImport, sourceFiles, workspaceEntries } from './source-files.ts';

/** The cycles of a directed graph: each strongly connected component of more than one node (or a self-loop), sorted. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

describe('import graph', () => {
  it('finds cycles, direct and through other files, and nothing in a graph without one', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a', 'd']],
      ['e', ['a']],
    ]);
    expect(findCycles(g)).toEqual([['a', 'b', 'c'], ['d']]);
    expect(
      findCycles(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('reads static, type-only, re-export and dynamic imports, not commented-out ones', () => {
    const text = `import type { A } from './a.ts';\nimport { B,\n  C } from "./b.ts";\nexport * from './c.ts';\nimport './d.css';\n// import { x } from './x.ts';\nconst m = await import('./e.ts');`;
    expect(importSpecifiers(text)).toEqual(['./a.ts', './b.ts', './c.ts', './d.css', './e.ts']);
  });

  it('has no cycles in packages/*/src and apps/*/src', () => {
    const files = sourceFiles();
    const known = new Set(files.map((f) => f.path));
    const entries = workspaceEntries();
    const graph = new Map<string, string[]>();
    for (const f of files) {
      const targets = importSpecifiers(f.text)
        .map((s) => resolveImport(f.path, s, entries))
        .filter((p): p is string => p !== null && known.has(p));
      graph.set(f.path, targets);
    }
    expect(files.length).toBeGreaterThan(100);
    expect(findCycles(graph)).toEqual([]);
  });
});
