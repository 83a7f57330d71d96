// Dev-time: writes the SQL that takes each provider's database from the last committed migration's
// schema to prisma/schema.prisma, as prisma/migrations/<provider>/<timestamp>_<name>/migration.sql.
// Prisma's native migration engine cannot be downloaded here, so this drives its wasm build.
//   node --import tsx packages/db/scripts/make-migration.ts <name>
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { derivePostgresSchema } from './derive-postgres-schema.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const require = createRequire(import.meta.url);

type SchemaEngineModule = {
  SchemaEngine: {
    new: (options: unknown, log: (msg: string) => void, adapter: unknown) => Promise<{
      diff(params: unknown): Promise<{ exitCode: number; stdout: string | null }>;
    }>;
  };
};

// Node 20 cannot import .wasm: instantiate it by hand with the JS glue as its import object.
async function loadSchemaEngine(): Promise<SchemaEngineModule> {
  const pkgDir = dirname(require.resolve('@prisma/schema-engine-wasm'));
  (globalThis as Record<string, unknown>).PRISMA_WASM_PANIC_REGISTRY ??= { set_message() {} };
  const glue = (await import(join(pkgDir, 'schema_engine_bg.js'))) as Record<string, unknown> & {
    __wbg_set_wasm(exports: unknown): void;
  };
  const bytes = readFileSync(join(pkgDir, 'schema_engine_bg.wasm'));
  const { instance } = await WebAssembly.instantiate(bytes, {
    './schema_engine_bg.js': glue as unknown as WebAssembly.ModuleImports,
  });
  glue.__wbg_set_wasm(instance.exports);
  (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
  return glue as unknown as SchemaEngineModule;
}

const providers = {
  sqlite: {
    schema: () => readFileSync(join(root, 'prisma/schema.prisma'), 'utf8'),
    adapter: () => new PrismaBetterSqlite3({ url: ':memory:' }),
  },
  postgresql: {
    schema: () => derivePostgresSchema(readFileSync(join(root, 'prisma/schema.prisma'), 'utf8')),
    adapter: () => new PrismaPg(process.env.PAGODA_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'),
  },
} as const;

function lastSnapshot(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const names = readdirSync(dir).filter((n) => existsSync(join(dir, n, 'schema.prisma'))).sort();
  const last = names.at(-1);
  return last ? readFileSync(join(dir, last, 'schema.prisma'), 'utf8') : null;
}

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name || !/^[a-z0-9_]+$/.test(name)) throw new Error('usage: make-migration.ts <snake_case_name>');
  const engineModule = await loadSchemaEngine();
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  for (const [provider, spec] of Object.entries(providers)) {
    const dir = join(root, 'prisma/migrations', provider);
    const current = spec.schema();
    const previous = lastSnapshot(dir);
    const engine = await engineModule.SchemaEngine.new(
      { datamodels: [['schema.prisma', current]] },
      () => {},
      bindMigrationAwareSqlAdapterFactory(spec.adapter()),
    );
    const target = (text: string | null) =>
      text === null ? { tag: 'empty' } : { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: text }] };
    const result = await engine.diff({
      from: target(previous),
      to: target(current),
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    const sql = result.stdout ?? '';
    if (!sql.trim() || /^-- This is an empty migration/.test(sql.trim())) {
      console.log(`${provider}: no changes`);
      continue;
    }
    const out = join(dir, `${stamp}_${name}`);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'migration.sql'), sql);
    writeFileSync(join(out, 'schema.prisma'), current);
    console.log(`${provider}: wrote ${out}/migration.sql`);
  }
}

await main();
