// Opens Pagoda's database from a URL (a SQLite file by default, PostgreSQL in production), applies
// the committed migrations, and hands out one Prisma client with the same model API for both.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as SqliteClient } from '../generated/sqlite/client.ts';
import { PrismaClient as PostgresClient } from '../generated/postgresql/client.ts';
import { applyMigrations, MIGRATIONS_TABLE, readMigrations, type MigrationTarget, type Provider } from './migrate.ts';

/** Both generated clients share one model API; the SQLite one's types stand for both. */
export type Db = InstanceType<typeof SqliteClient>;

export interface Database {
  prisma: Db;
  provider: Provider;
  url: string;
  close(): Promise<void>;
}

export function providerOf(url: string): Provider {
  if (url.startsWith('file:')) return 'sqlite';
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return 'postgresql';
  throw new Error(`DATABASE_URL must start with file: (SQLite) or postgresql:// — got '${url}'`);
}

function sqliteTarget(path: string): { target: MigrationTarget; close(): void } {
  const db = new BetterSqlite3(path);
  const target: MigrationTarget = {
    exec: async (sql) => void db.exec(sql),
    queryApplied: async () => db.prepare(`SELECT name, sha256 FROM ${MIGRATIONS_TABLE}`).all() as Array<{ name: string; sha256: string }>,
    transaction: async (body) => {
      db.exec('BEGIN IMMEDIATE');
      try {
        await body();
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    },
    lock: async () => {},
    unlock: async () => {},
  };
  return { target, close: () => db.close() };
}

// Any fixed number works as long as every Pagoda server uses the same one.
const MIGRATION_LOCK_ID = 7_406_190_511;

async function postgresTarget(url: string): Promise<{ target: MigrationTarget; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const target: MigrationTarget = {
    exec: async (sql) => void (await client.query(sql)),
    queryApplied: async () => (await client.query(`SELECT name, sha256 FROM ${MIGRATIONS_TABLE}`)).rows,
    transaction: async (body) => {
      await client.query('BEGIN');
      try {
        await body();
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    },
    lock: async () => void (await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID])),
    unlock: async () => void (await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID])),
  };
  return { target, close: () => client.end() };
}

export function sqlitePath(url: string): string {
  return resolve(url.slice('file:'.length));
}

/** Migrates the database at url, then opens a Prisma client on it. */
export async function openDatabase(url: string, migrationsDir?: string): Promise<Database> {
  const provider = providerOf(url);
  const migrations = readMigrations(provider, migrationsDir);
  if (provider === 'sqlite') {
    const path = sqlitePath(url);
    mkdirSync(dirname(path), { recursive: true });
    const { target, close } = sqliteTarget(path);
    try {
      await applyMigrations(target, migrations);
    } finally {
      close();
    }
    const prisma = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${path}` }) });
    return { prisma, provider, url, close: () => prisma.$disconnect() };
  }
  const { target, close } = await postgresTarget(url);
  try {
    await applyMigrations(target, migrations);
  } finally {
    await close();
  }
  const prisma = new PostgresClient({ adapter: new PrismaPg({ connectionString: url }) }) as unknown as Db;
  return { prisma, provider, url, close: () => prisma.$disconnect() };
}
