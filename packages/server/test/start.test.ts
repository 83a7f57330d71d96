// `pagoda start` as a user runs it: a real process on the embedded defaults (SQLite file, private
// redis-server child), health and version, clean shutdown, and the message when Redis is missing.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsx = join(root, 'node_modules/tsx/dist/esm/index.mjs');
const main = join(root, 'packages/cli/src/main.ts');
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'pagoda-start-'));
  dirs.push(d);
  return d;
}

function startPagoda(cwd: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  const child = spawn(process.execPath, ['--import', tsx, main, 'start', '--port', '0', '--log-level', 'warn', ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = /Pagoda is running at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${out}`));
    });
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url, exit, output: () => out };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function redisChildPid(parent: number): Promise<number | null> {
  const { spawnSync } = await import('node:child_process');
  // ps exits 1 when the parent has no children: that is an answer, not an error.
  const out = spawnSync('ps', ['-o', 'pid=,comm=', '--ppid', String(parent)], { encoding: 'utf8' }).stdout;
  const line = out.split('\n').find((l) => l.includes('redis-server'));
  return line ? Number(line.trim().split(/\s+/)[0]) : null;
}

describe('pagoda start', () => {
  it('runs on the embedded defaults with REDIS_URL unset and stops its private Redis on exit', async () => {
    const cwd = scratch();
    const env = { ...process.env };
    delete env.REDIS_URL;
    delete env.DATABASE_URL;
    const p = startPagoda(cwd, env);
    const url = await p.url;

    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', database: 'ok', redis: 'ok', provider: 'sqlite' });
    const version = (await (await fetch(`${url}/api/version`)).json()) as { name: string; version: string };
    expect(version.name).toBe('pagoda');
    expect(version.version).toMatch(/^\d+\.\d+\.\d+/);
    // vLLM's GET /version answers the same JSON, not the dashboard's page
    expect(await (await fetch(`${url}/version`)).json()).toEqual(version);
    expect(existsSync(join(cwd, 'data/pagoda.db'))).toBe(true);
    expect(existsSync(join(cwd, 'data/redis'))).toBe(true);
    // Once it says it runs, a launch can be placed: the server already knows the local worker it named.
    const named = /with local worker '([^']+)'/.exec(p.output())![1];
    const workers = (await (await fetch(`${url}/v1/workers`)).json()) as { worker: string; status: string }[];
    expect(workers).toEqual([expect.objectContaining({ worker: named, status: 'alive' })]);

    const redisPid = await redisChildPid(p.child.pid!);
    expect(redisPid).not.toBeNull();
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(pidAlive(redisPid!)).toBe(false);
  });

  it('uses REDIS_URL when it is set and starts no Redis of its own', async () => {
    const cwd = scratch();
    const p = startPagoda(cwd, { ...process.env, REDIS_URL: process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
    const url = await p.url;
    expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ redis: 'ok' });
    expect(await redisChildPid(p.child.pid!)).toBeNull();
    expect(existsSync(join(cwd, 'data/redis'))).toBe(false);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  });

  it('answers bad JSON with a 400 in the error shape', async () => {
    const cwd = scratch();
    const p = startPagoda(cwd, { ...process.env, REDIS_URL: process.env.PAGODA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
    const url = await p.url;
    const res = await fetch(`${url}/api/version`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringMatching(/invalid JSON/) } });
    p.child.kill('SIGTERM');
    await p.exit;
  });

  it('exits with an install hint when REDIS_URL is unset and there is no redis-server', async () => {
    const cwd = scratch();
    const bin = join(cwd, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin };
    delete env.REDIS_URL;
    const p = startPagoda(cwd, env);
    await expect(p.url).rejects.toThrow(/no redis-server binary found: install one .*apt-get install redis-server.* or set REDIS_URL/);
    expect(await p.exit).not.toBe(0);
  });
});
