// API keys: an admin key (PAGODA_ADMIN_KEY or stored admin keys) for management routes, inference keys
// (optionally limited to model uids) for the OpenAI routes. Keys are stored as sha256 hashes: they are
// random 32-byte secrets, so a fast hash is enough. A server that has never had a key is open, but
// only on loopback; once a key has existed, a persisted marker keeps auth on for good.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Database } from '@pagoda/db';
import { HttpError } from './http-error.ts';

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

/** A replica's runner secret: the proxy's bearer token at that runner, made when the replica is placed. */
export function newRunnerSecret(): string {
  return `rs-${randomBytes(32).toString('base64url')}`;
}

export function bearer(req: Request): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const q = req.query.api_key;
  return typeof q === 'string' ? q : null;
}

/** The Setting row that records that auth was turned on; nothing ever deletes it. */
export const AUTH_ENABLED_SETTING = 'auth_enabled';

export class Auth {
  private readonly adminHash: Buffer | null;
  /** Set once the server has bound: a server reachable from other machines is never open. */
  loopbackOnly = true;
  /** Cached once true: auth never turns off again in this process (nor, by the marker, after it). */
  private enabledSeen = false;

  constructor(
    private readonly db: Database,
    adminKey: string | undefined,
  ) {
    this.adminHash = adminKey ? Buffer.from(hashKey(adminKey), 'hex') : null;
  }

  /** True when no key has ever existed and the server listens on loopback only. */
  async open(): Promise<boolean> {
    return this.loopbackOnly && !(await this.enabled());
  }

  /**
   * Whether auth is on: PAGODA_ADMIN_KEY is set, or the marker is stored (written with the first key,
   * or at start by a server that finds keys or PAGODA_ADMIN_KEY). Another server on the same
   * database may have turned it on, so a false answer is checked again next time.
   */
  async enabled(): Promise<boolean> {
    if (this.enabledSeen || this.adminHash) return (this.enabledSeen = true);
    const marker = await this.db.prisma.setting.findUnique({ where: { key: AUTH_ENABLED_SETTING } });
    return (this.enabledSeen = marker !== null);
  }

  /** At start: stores the marker when a key exists (databases from before the marker, PAGODA_ADMIN_KEY). */
  async persistEnabled(): Promise<boolean> {
    if (await this.configured()) await this.markEnabled(this.db.prisma);
    return this.enabled();
  }

  /** Records that auth is on; `tx` lets the caller write it with the key that turns it on. */
  async markEnabled(tx: Pick<Database['prisma'], 'setting'>): Promise<void> {
    await tx.setting.upsert({ where: { key: AUTH_ENABLED_SETTING }, create: { key: AUTH_ENABLED_SETTING, value: 'true' }, update: {} });
    this.enabledSeen = true;
  }

  /** Whether PAGODA_ADMIN_KEY is set: then revoking every stored admin key locks nobody out. */
  get hasEnvAdminKey(): boolean {
    return this.adminHash !== null;
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
      if (!principal) throw new HttpError(401, 'missing or unknown API key: send Authorization: Bearer <key>', null, {}, bearer(req) === null ? 'missing_api_key' : 'invalid_api_key');
      if (scope === 'admin' && principal.scope !== 'admin') throw new HttpError(403, `key '${principal.name}' is an inference key; this route needs an admin key`, null, {}, 'admin_key_required', { params: { key: principal.name } });
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
