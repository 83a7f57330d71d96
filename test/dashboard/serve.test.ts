// The server's dashboard route: built files as they are, index.html for page paths (so a reload of
// /models works), never for API paths, and a plain hint when the dashboard was not built.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardRoutes, isApiPath } from '../../packages/server/src/dashboard.ts';
import { lastProgress } from '../../packages/server/src/routes/bench.ts';

// express is the server package's dependency: resolved from there, typed by the little used here.
interface Res {
  json(body: unknown): void;
  status(code: number): Res;
}
interface MiniApp {
  get(path: string, handler: (req: unknown, res: Res) => void): MiniApp;
  use(handler: unknown): MiniApp;
  listen(port: number, host: string): Server;
}
const express = createRequire(new URL('../../packages/server/package.json', import.meta.url))(
  'express',
) as () => MiniApp;

let dist: string;
let base: string;
let close: () => void;

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), 'pagoda-dist-'));
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dist, 'assets/app-1234.js'), 'console.log(1)');
  const app = express();
  app.get('/v1/models', (_req, res) => void res.json({ data: [] }));
  app.use(dashboardRoutes(dist));
  app.use(
    (_req: unknown, res: Res) => void res.status(404).json({ error: { message: 'no route' } }),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});

afterAll(() => {
  close();
  rmSync(dist, { recursive: true, force: true });
});

const get = (path: string, accept = 'text/html') =>
  fetch(`${base}${path}`, { headers: { accept } });

describe('serving the dashboard', () => {
  it('serves index.html at / and for any page path, without caching it', async () => {
    for (const path of ['/', '/models', '/chat', '/launch/deep/link']) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toContain('id="root"');
      expect(res.headers.get('cache-control') ?? '').toMatch(/no-cache|max-age=0/);
    }
  });

  it('serves hashed assets with a long cache, and 404s a missing one', async () => {
    const res = await get('/assets/app-1234.js', '*/*');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('immutable');
    expect((await get('/assets/missing.js', '*/*')).status).toBe(404);
  });

  it('never answers API paths with the page', async () => {
    expect(await (await get('/v1/models')).json()).toEqual({ data: [] });
    for (const path of ['/v1/nothing', '/api/nothing', '/health/x', '/metrics/x']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect((await res.json()).error.message).toBe('no route');
    }
    expect(isApiPath('/v1')).toBe(true);
    expect(isApiPath('/v1x')).toBe(false);
    expect(isApiPath('/apis')).toBe(false);
  });

  it('says how to build when dist is missing', async () => {
    const app = express().use(dashboardRoutes(join(dist, 'nope')));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    server.close();
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('pnpm --filter @pagoda/dashboard build');
  });
});

describe('benchmark progress', () => {
  it('reads the last done/total from the load generator progress line', () => {
    expect(lastProgress('benchmarking x\n\r[###...] 1/6 requests\r[######] 4/6 requests')).toEqual({
      done: 4,
      total: 6,
    });
    expect(lastProgress('benchmarking x\n')).toBeNull();
  });
});
