// `pagoda start` stops promptly on SIGTERM even with a reconcile pass in flight: the pass is held on
// PostgreSQL's placement lock (as a slow database would hold it), and the process must still exit
// within a few seconds instead of waiting for the pass and then scheduling the next one.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient, createScratchDatabase } from '../../db/test/pg.ts';
import { ROOT, waitFor } from './platform_helpers.ts';

const REDIS_URL = process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TSX = join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const MAIN = join(ROOT, 'packages/cli/src/main.ts');
/** The advisory lock placement takes on PostgreSQL (placement.ts LOCK_ID). */
const PLACEMENT_LOCK_ID = 7_406_190_512;

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('shutdown', () => {
  it('SIGTERM during a reconcile pass stuck on the database: the server exits within a few seconds', async () => {
    const scratch = await createScratchDatabase('pagoda_shutdown');
    cleanups.push(() => scratch.drop());
    const dataDir = mkdtempSync(join(tmpdir(), 'pagoda-shutdown-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));

    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'start', '--port', '0', '--no-worker', '--data-dir', dataDir, '--log-level', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: scratch.url, REDIS_URL, PAGODA_REDIS_PREFIX: `sd${Date.now().toString(36)}`, PAGODA_RECONCILE_MS: '100' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, at: Date.now() })));
    await waitFor('the server to start', async () => /Pagoda is running at/.test(out), 60_000);

    // Hold the placement lock, then give the server an instance that lacks a replica: its next
    // reconcile pass opens a placement transaction and waits on the lock.
    const holder = await connectClient(scratch.url);
    cleanups.push(() => holder.end());
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1)', [PLACEMENT_LOCK_ID]);
    const writer = await connectClient(scratch.url);
    cleanups.push(() => writer.end());
    await writer.query(`INSERT INTO "ModelInstance" ("id", "uid", "modelName", "engine", "params", "desiredReplicas", "status", "updatedAt") VALUES ($1, 'stuck', 'stories', 'builtin', $2, 1, 'launching', now())`, [randomUUID(), JSON.stringify({ request: { model_name: 'stories' }, engine_kwargs: {} })]);
    await waitFor('a reconcile pass waiting on the placement lock', async () => {
      const { rows } = await writer.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
      return rows[0].n > 0;
    }, 20_000, 50);

    const signalled = Date.now();
    child.kill('SIGTERM');
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000));
    const exit = await Promise.race([exited, timeout]);
    expect(exit, `still running 20 s after SIGTERM; output:\n${out}`).not.toBeNull();
    // 2 s for the pass in flight, 1 s for the database, then exit; slack for a loaded machine.
    expect(exit!.at - signalled, out).toBeLessThan(8_000);
    expect(exit!.code).toBe(0);
  });
});
