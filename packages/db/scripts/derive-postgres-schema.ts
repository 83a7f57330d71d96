// Writes prisma/postgresql.prisma from prisma/schema.prisma (the SQLite source): Prisma rejects an
// env() provider, so the PostgreSQL client and migrations come from this derived copy.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export function derivePostgresSchema(sqliteSchema: string): string {
  const out = sqliteSchema
    .replace(/provider\s*=\s*"sqlite"/, 'provider = "postgresql"')
    .replace('generated/sqlite"', 'generated/postgresql"');
  if (out === sqliteSchema) throw new Error('prisma/schema.prisma: expected a sqlite provider to swap');
  return `// GENERATED from prisma/schema.prisma by packages/db/scripts/derive-postgres-schema.ts: do not edit.\n${out}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const source = readFileSync(`${root}prisma/schema.prisma`, 'utf8');
  writeFileSync(`${root}prisma/postgresql.prisma`, derivePostgresSchema(source));
}
