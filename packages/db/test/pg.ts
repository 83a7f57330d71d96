// Test helper: a fresh PostgreSQL database per suite on the server at PAGODA_TEST_PG_URL.
import pg from 'pg';

export const PG_ADMIN_URL = process.env.PAGODA_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export async function createScratchDatabase(prefix = 'pagoda_test'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A connected client on `url`, for tests that hold locks or write rows beside a server. */
export async function connectClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}
