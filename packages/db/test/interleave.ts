// Test helper: a Prisma client on a SQLite file whose driver adapter can run a write just before
// the next query that reads a given table, to reproduce what another request does between the
// queries of one Prisma call (an `include` loads each relation with a query of its own).
import BetterSqlite3 from 'better-sqlite3';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import type { SqlDriverAdapter, SqlDriverAdapterFactory, SqlQuery } from '@prisma/driver-adapter-utils';
import { PrismaClient } from '../generated/sqlite/client.ts';
import { openDatabase, sqlitePath, type Database, type Db } from '../src/database.ts';

export interface InterleavedDatabase {
  db: Database;
  /** Runs `sql` (on its own connection, foreign keys on) right before the next query that reads `table`. */
  beforeNextRead(table: string, sql: string, ...args: unknown[]): void;
}

export async function openInterleavedSqlite(url: string): Promise<InterleavedDatabase> {
  await (await openDatabase(url)).close(); // migrated
  const path = sqlitePath(url);
  let pending: { table: string; run(): void } | null = null;
  const base = new PrismaBetterSqlite3({ url: `file:${path}` });
  const reads = (sql: string, table: string) => new RegExp(`^\\s*SELECT[\\s\\S]*\\bFROM\\s+[\`"]?(main[\`"]?\\.[\`"]?)?${table}[\`"]?`, 'i').test(sql);
  const factory: SqlDriverAdapterFactory = {
    provider: base.provider,
    adapterName: base.adapterName,
    async connect(): Promise<SqlDriverAdapter> {
      const adapter = await base.connect();
      return new Proxy(adapter, {
        get(target, key, receiver) {
          if (key === 'queryRaw') {
            return async (query: SqlQuery) => {
              if (pending && reads(query.sql, pending.table)) {
                const p = pending;
                pending = null;
                p.run();
              }
              return target.queryRaw(query);
            };
          }
          const value = Reflect.get(target, key, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
  const prisma = new PrismaClient({ adapter: factory }) as Db;
  return {
    db: { prisma, provider: 'sqlite', url, close: () => prisma.$disconnect() },
    beforeNextRead(table, sql, ...args) {
      pending = {
        table,
        run() {
          const conn = new BetterSqlite3(path);
          try {
            conn.pragma('foreign_keys = ON');
            conn.prepare(sql).run(...args);
          } finally {
            conn.close();
          }
        },
      };
    },
  };
}
