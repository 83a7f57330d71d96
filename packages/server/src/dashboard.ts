// Serves the built dashboard (apps/dashboard/dist) at /: its files as they are, and index.html for any
// other GET that asks for a page, so client-side routes survive a reload. API paths never fall back.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

export const DASHBOARD_DIST = fileURLToPath(
  new URL('../../../apps/dashboard/dist', import.meta.url),
);

/** Paths the API owns: a miss there is the API's 404, never the dashboard's page. */
const API_PREFIXES = ['/v1', '/api', '/health', '/metrics'];

export function isApiPath(path: string): boolean {
  return API_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

/** Routes that serve `dist`; when it was never built, / says how to build it instead. */
export function dashboardRoutes(dist: string = DASHBOARD_DIST): Router {
  const r = Router();
  const index = join(dist, 'index.html');
  if (!existsSync(index)) {
    r.get('/', (_req, res) => {
      res
        .status(404)
        .type('text/plain')
        .send(
          `the dashboard is not built (${index} is missing): run pnpm --filter @pagoda/dashboard build\n`,
        );
    });
    return r;
  }
  // Hashed asset names change with their content, so they may be cached for good; index.html may not.
  r.use(
    '/assets',
    express.static(join(dist, 'assets'), { immutable: true, maxAge: '1y', fallthrough: false }),
  );
  r.use(express.static(dist, { index: false }));
  r.get(/.*/, (req, res, next) => {
    if (isApiPath(req.path) || !req.accepts('html')) return next();
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return r;
}
