// Applies the committed migrations (prisma/migrations/<provider>/<timestamp>_<name>/migration.sql) in
// order at start, each in one transaction, recording name and sha256; PostgreSQL holds an advisory
// lock so two servers starting together do not race. A changed applied migration stops the start.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Provider = 'sqlite' | 'postgresql';

export interface Migration {
  name: string;
  sql: string;
  sha256: string;
}

/** How the runner talks to one database: a plain SQL surface over better-sqlite3 or pg. */
export interface MigrationTarget {
  exec(sql: string): Promise<void>;
  queryApplied(): Promise<Array<{ name: string; sha256: string }>>;
  /** Runs body inside one transaction (and, on PostgreSQL, under the migration lock). */
  transaction(body: () => Promise<void>): Promise<void>;
  lock(): Promise<void>;
  unlock(): Promise<void>;
}

export const MIGRATIONS_TABLE = '_pagoda_migrations';
const defaultDir = fileURLToPath(new URL('../../../prisma/migrations/', import.meta.url));

export function readMigrations(provider: Provider, dir = defaultDir): Migration[] {
  const base = join(dir, provider);
  if (!existsSync(base)) throw new Error(`no migrations for ${provider} in ${base}`);
  return readdirSync(base)
    .filter((name) => existsSync(join(base, name, 'migration.sql')))
    .sort()
    .map((name) => {
      const sql = readFileSync(join(base, name, 'migration.sql'), 'utf8');
      return { name, sql, sha256: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Applies what is missing; returns the names applied now. */
export async function applyMigrations(target: MigrationTarget, migrations: Migration[]): Promise<string[]> {
  await target.lock();
  try {
    await target.exec(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL)`,
    );
    const applied = new Map((await target.queryApplied()).map((row) => [row.name, row.sha256]));
    const done: string[] = [];
    for (const migration of migrations) {
      const known = applied.get(migration.name);
      if (known !== undefined) {
        if (known !== migration.sha256) {
          throw new Error(
            `migration ${migration.name} was changed after it was applied (sha256 ${known} in the database, ${migration.sha256} on disk); restore the committed file`,
          );
        }
        continue;
      }
      await target.transaction(async () => {
        await target.exec(migration.sql);
        const escaped = migration.name.replace(/'/g, "''");
        await target.exec(
          `INSERT INTO ${MIGRATIONS_TABLE} (name, sha256, applied_at) VALUES ('${escaped}', '${migration.sha256}', '${new Date().toISOString()}')`,
        );
      });
      done.push(migration.name);
    }
    return done;
  } finally {
    await target.unlock();
  }
}
