// The migration runner: idempotent, refuses an edited migration, rolls a bad one back wholly.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/index.ts';
import { createScratchDatabase } from './pg.ts';

const committed = fileURLToPath(new URL('../../../prisma/migrations/', import.meta.url));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function scratchMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pagoda-mig-'));
  cpSync(committed, dir, { recursive: true });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function addMigration(dir: string, provider: string, name: string, sql: string): void {
  mkdirSync(join(dir, provider, name), { recursive: true });
  writeFileSync(join(dir, provider, name, 'migration.sql'), sql);
}

describe('migrations on SQLite', () => {
  it('applies once, and a second start applies nothing and keeps the data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pagoda-db-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const url = `file:${join(dir, 'p.db')}`;
    const a = await openDatabase(url);
    await a.prisma.worker.create({ data: { id: 'w', host: 'h', address: 'a', devices: [] } });
    await a.close();
    const b = await openDatabase(url);
    expect(await b.prisma.worker.count()).toBe(1);
    await b.close();
    const raw = new BetterSqlite3(join(dir, 'p.db'));
    const rows = raw.prepare('SELECT name FROM _pagoda_migrations').all();
    raw.close();
    expect(rows.length).toBe(readdirSync(join(committed, 'sqlite')).length);
  });

  it('refuses to start when an applied migration was edited', async () => {
    const migs = scratchMigrations();
    const dir = mkdtempSync(join(tmpdir(), 'pagoda-db-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const url = `file:${join(dir, 'p.db')}`;
    await (await openDatabase(url, migs)).close();
    const first = readdirSync(join(migs, 'sqlite')).sort()[0]!;
    appendFileSync(join(migs, 'sqlite', first, 'migration.sql'), '\n-- edited\n');
    await expect(openDatabase(url, migs)).rejects.toThrow(/was changed after it was applied/);
  });

  it('rolls a failing migration back wholly and fails the start', async () => {
    const migs = scratchMigrations();
    addMigration(migs, 'sqlite', '99990101000000_bad', 'CREATE TABLE "Extra" ("id" TEXT);\nINSERT INTO "Nope" VALUES (1);\n');
    const dir = mkdtempSync(join(tmpdir(), 'pagoda-db-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    await expect(openDatabase(`file:${join(dir, 'p.db')}`, migs)).rejects.toThrow(/Nope/);
    const raw = new BetterSqlite3(join(dir, 'p.db'));
    const extra = raw.prepare("SELECT name FROM sqlite_master WHERE name = 'Extra'").all();
    const applied = raw.prepare("SELECT name FROM _pagoda_migrations WHERE name LIKE '%_bad'").all();
    raw.close();
    expect(extra).toEqual([]);
    expect(applied).toEqual([]);
  });
});

describe('migrations on PostgreSQL', () => {
  it('two servers starting together apply each migration exactly once', async () => {
    const scratch = await createScratchDatabase();
    cleanups.push(scratch.drop);
    const [a, b] = await Promise.all([openDatabase(scratch.url), openDatabase(scratch.url)]);
    await a.prisma.worker.create({ data: { id: 'w', host: 'h', address: 'a', devices: [] } });
    expect(await b.prisma.worker.count()).toBe(1);
    await Promise.all([a.close(), b.close()]);
    const c = new pg.Client({ connectionString: scratch.url });
    await c.connect();
    const { rows } = await c.query('SELECT name FROM _pagoda_migrations');
    await c.end();
    expect(rows.length).toBe(readdirSync(join(committed, 'postgresql')).length);
  });

  it('rolls a failing migration back wholly', async () => {
    const migs = scratchMigrations();
    addMigration(migs, 'postgresql', '99990101000000_bad', 'CREATE TABLE "Extra" ("id" TEXT);\nINSERT INTO "Nope" VALUES (1);\n');
    const scratch = await createScratchDatabase();
    cleanups.push(scratch.drop);
    await expect(openDatabase(scratch.url, migs)).rejects.toThrow(/Nope/);
    const c = new pg.Client({ connectionString: scratch.url });
    await c.connect();
    const { rows } = await c.query("SELECT to_regclass('public.\"Extra\"') AS t");
    await c.end();
    expect(rows[0].t).toBeNull();
  });

  it('rejects a URL that is neither SQLite nor PostgreSQL', async () => {
    await expect(openDatabase('mysql://x')).rejects.toThrow(/must start with file: \(SQLite\) or postgresql:\/\//);
  });
});
