// API keys: an admin key (PAGODA_ADMIN_KEY or stored admin keys) for management routes, inference keys
// (optionally limited to model uids) for the OpenAI routes. Keys are stored as sha256 hashes: they are
// random 32-byte secrets, so a fast hash is enough. With no key at all, everything is open, but only
// on a server that listens on loopback.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Database } from '@pagoda/db';
import { HttpError } from './http_error.ts';

export type Scope = 'admin' | 'inference';

export interface Principal {
  scope: Scope;
  /** Model uids an inference key may call; null = all. */
  models: string[] | null;
  name: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function newKey(): string {
  return `pk-${randomBytes(32).toString('base64url')}`;
}

export function bearer(req: Request): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const q = req.query.api_key;
  return typeof q === 'string' ? q : null;
}

export class Auth {
  private readonly adminHash: Buffer | null;
  /** Set once the server has bound: a server reachable from other machines is never open. */
  loopbackOnly = true;

  constructor(
    private readonly db: Database,
    adminKey: string | undefined,
  ) {
    this.adminHash = adminKey ? Buffer.from(hashKey(adminKey), 'hex') : null;
  }

  /** True when no key exists anywhere and the server listens on loopback only. */
  async open(): Promise<boolean> {
    return this.loopbackOnly && !(await this.configured());
  }

  /** Whether any key exists (PAGODA_ADMIN_KEY or a stored, unrevoked one). */
  async configured(): Promise<boolean> {
    if (this.adminHash) return true;
    return (await this.db.prisma.apiKey.count({ where: { revokedAt: null } })) > 0;
  }

  /** Whether an admin key exists: without one, an inference key would lock management out. */
  async hasAdminKey(): Promise<boolean> {
    if (this.adminHash) return true;
    return (await this.db.prisma.apiKey.count({ where: { revokedAt: null, scope: 'admin' } })) > 0;
  }

  async identify(key: string | null): Promise<Principal | null> {
    if (key === null) return null;
    const hash = hashKey(key);
    if (this.adminHash && timingSafeEqual(this.adminHash, Buffer.from(hash, 'hex'))) return { scope: 'admin', models: null, name: 'PAGODA_ADMIN_KEY' };
    const row = await this.db.prisma.apiKey.findUnique({ where: { keyHash: hash } });
    if (!row || row.revokedAt) return null;
    return { scope: row.scope as Scope, models: (row.models as string[] | null) ?? null, name: row.name };
  }

  /** Middleware: the caller must hold a key of `scope` (admin keys pass everywhere). */
  require(scope: Scope) {
    return async (req: Request, res: Response, next: NextFunction) => {
      if (await this.open()) return next();
      const principal = await this.identify(bearer(req));
      if (!principal) throw new HttpError(401, 'missing or unknown API key: send Authorization: Bearer <key>');
      if (scope === 'admin' && principal.scope !== 'admin') throw new HttpError(403, `key '${principal.name}' is an inference key; this route needs an admin key`);
      res.locals.principal = principal;
      next();
    };
  }
}

/** Whether the caller (set by Auth.require) may use model `uid`. */
export function mayUse(res: Response, uid: string): boolean {
  const p = res.locals.principal as Principal | undefined;
  return !p || p.models === null || p.models.includes(uid);
}
