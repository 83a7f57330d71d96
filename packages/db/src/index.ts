// Pagoda's database: Prisma clients for SQLite and PostgreSQL and the migration runner.
export { openDatabase, providerOf, sqlitePath, type Database, type Db } from './database.ts';
export { applyMigrations, readMigrations, type Migration, type MigrationTarget, type Provider } from './migrate.ts';
export { Prisma } from '../generated/sqlite/client.ts';
