// /api/keys: create (the plain key is shown once), list and revoke API keys. The first key turns auth
// on for good; the last admin key cannot be revoked (unless PAGODA_ADMIN_KEY is set), so management
// is never locked out by accident.
import { Router } from 'express';
import { ApiKeyRequestSchema, KeyNameSchema, type ApiKeyView } from '@pagoda/protocol';
import { hashKey, newKey, type Auth } from '../auth.ts';
import { idParam } from '../edge-checks.ts';
import { HttpError, parseBody } from '../http-error.ts';
import type { Platform } from '../platform.ts';

export function keyRoutes(p: Platform, auth: Auth): Router {
  const r = Router();
  const admin = auth.require('admin');
  r.post('/api/keys', admin, async (req, res) => {
    const body = parseBody(ApiKeyRequestSchema, req.body);
    if (await p.db.prisma.apiKey.findUnique({ where: { name: body.name } })) throw new HttpError(409, `a key named '${body.name}' exists; revoke it or pick another name`, 'name', {}, 'already_exists', { params: { name: body.name } });
    if (body.scope !== 'admin' && !(await auth.hasAdminKey())) {
      throw new HttpError(409, 'create an admin key first (or set PAGODA_ADMIN_KEY): once any key exists, management routes need an admin key', 'scope');
    }
    const key = newKey();
    await p.db.prisma.$transaction(async (tx) => {
      await tx.apiKey.create({ data: { name: body.name, keyHash: hashKey(key), prefix: key.slice(0, 8), scope: body.scope, models: body.models ?? undefined } });
      await auth.markEnabled(tx);
    });
    res.status(201).json({ name: body.name, scope: body.scope, models: body.models ?? null, key, note: 'store this key now: only its hash is kept' });
  });
  r.get('/api/keys', admin, async (_req, res) => {
    const rows = await p.db.prisma.apiKey.findMany({ where: { revokedAt: null }, orderBy: { createdAt: 'asc' } });
    res.json(rows.map((k) => ({ name: k.name, scope: k.scope as ApiKeyView['scope'], prefix: k.prefix, models: (k.models as string[] | null) ?? null, created_at: k.createdAt.toISOString() }) satisfies ApiKeyView));
  });
  r.delete('/api/keys/:name', admin, async (req, res) => {
    const name = idParam(req, 'name', KeyNameSchema, 'name', 'key name');
    const row = await p.db.prisma.apiKey.findUnique({ where: { name } });
    if (!row || row.revokedAt) throw new HttpError(404, `no key named '${name}'`, 'name', {}, 'key_not_found', { params: { name } });
    await p.db.prisma.$transaction(async (tx) => {
      if (row.scope === 'admin' && !auth.hasEnvAdminKey && (await tx.apiKey.count({ where: { scope: 'admin', revokedAt: null } })) <= 1) {
        throw new HttpError(409, `'${name}' is the last admin key: create another admin key first (or start the server with PAGODA_ADMIN_KEY); auth stays on either way`, 'name', {}, 'last_admin_key', { params: { name } });
      }
      await tx.apiKey.delete({ where: { name } });
    });
    res.json({ name, revoked: true });
  });
  return r;
}
