// Every shape that crosses a process boundary is declared once, in packages/protocol: no other package
// or app declares a type, interface, schema or class under a name the protocol package exports, and
// they import it as the package (@pagoda/protocol), never by a path into its sources.
import { describe, expect, it } from 'vitest';
import { importSpecifiers, sourceFiles, type SourceFile } from './source-files.ts';

/** Names a file declares at top level for data: interfaces, type aliases, consts (schemas), classes, enums. */
export function declaredNames(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(
    /^(?:export\s+)?(?:declare\s+)?(?:interface|type|const|let|class|enum)\s+([A-Za-z_$][\w$]*)/gm,
  ))
    names.push(m[1]!);
  return names;
}

/** The declarations a file exports (not its re-exports). */
function exportedNames(text: string): string[] {
  return [
    ...text.matchAll(
      /^export\s+(?:declare\s+)?(?:interface|type|const|let|class|enum)\s+([A-Za-z_$][\w$]*)/gm,
    ),
  ].map((m) => m[1]!);
}

const isProtocol = (f: SourceFile) => f.path.startsWith('packages/protocol/');
/** packages/<name> or apps/<name>. */
const packageOf = (f: SourceFile) => f.path.split('/').slice(0, 2).join('/');

describe('wire types have one home', () => {
  const files = sourceFiles();
  const protocolNames = new Set(files.filter(isProtocol).flatMap((f) => exportedNames(f.text)));

  it('reads declarations, not re-exports or imports', () => {
    const text = `import type { A } from 'x';\nexport type { B } from 'y';\nexport interface C {}\ntype D = string;\nexport const ESchema = 1;\n  const inner = 2;\nexport function F() {}`;
    expect(declaredNames(text)).toEqual(['C', 'D', 'ESchema']);
    expect(exportedNames(text)).toEqual(['C', 'ESchema']);
  });

  it('the protocol package exports the management views the dashboard and the client read', () => {
    for (const name of [
      'ModelView',
      'PlanResponse',
      'WorkerView',
      'ClusterDevice',
      'ClusterInfo',
      'ApiKeyView',
      'BenchRun',
      'BenchSummary',
      'RegistrationSummary',
      'ModelFamilyView',
      'EnginesOf',
      'LaunchProgress',
    ])
      expect(protocolNames.has(name), name).toBe(true);
  });

  it('no other package or app declares a name the protocol package exports', () => {
    const twice = files
      .filter((f) => !isProtocol(f))
      .flatMap((f) =>
        declaredNames(f.text)
          .filter((n) => protocolNames.has(n))
          .map((n) => `${f.path} declares ${n}`),
      );
    expect(twice).toEqual([]);
  });

  it('the protocol package is imported as @pagoda/protocol, not by a path into its sources', () => {
    const byPath = files
      .filter((f) => !isProtocol(f))
      .flatMap((f) =>
        importSpecifiers(f.text)
          .filter((s) => /(^|\/)protocol\/src\b/.test(s))
          .map((s) => `${f.path} imports ${s}`),
      );
    expect(byPath).toEqual([]);
  });

  it('the dashboard reads wire types from the protocol package', () => {
    const dashboard = files.filter((f) => f.path.startsWith('apps/dashboard/src/'));
    const fromProtocol = dashboard.filter((f) =>
      importSpecifiers(f.text).includes('@pagoda/protocol'),
    );
    expect(fromProtocol.length).toBeGreaterThan(5);
  });

  it('no two packages export a type, interface, schema or class of the same name', () => {
    const where = new Map<string, Set<string>>();
    for (const f of files)
      for (const name of exportedNames(f.text))
        where.set(name, (where.get(name) ?? new Set()).add(packageOf(f)));
    const twice = [...where]
      .filter(([, pkgs]) => pkgs.size > 1)
      .map(([name, pkgs]) => `${name}: ${[...pkgs].join(', ')}`);
    expect(twice).toEqual([]);
  });
});
