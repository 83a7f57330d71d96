// Whether the server wants a key this browser does not have: set by a call answered 401, cleared by
// signing in. While it is set the app shows the sign-in prompt and nothing polls or reconnects.
import { useSyncExternalStore } from 'react';
import { serverError } from '../i18n/server-error.ts';

/** 'missing': no key was sent; 'invalid': the stored key is unknown or revoked. */
export type AuthNeed = 'missing' | 'invalid' | null;

let need: AuthNeed = null;
const listeners = new Set<() => void>();

function set(next: AuthNeed): void {
  if (next === need) return;
  need = next;
  for (const fn of listeners) fn();
}

/** Records a 401 (returns true: the caller stops); any other error is not about the key. */
export function reportAuthFailure(err: unknown): boolean {
  const s = serverError(err);
  if (s.status !== 401 && s.code !== 'missing_api_key' && s.code !== 'invalid_api_key')
    return false;
  set(s.code === 'invalid_api_key' ? 'invalid' : 'missing');
  return true;
}

export function clearAuthNeed(): void {
  set(null);
}

export function authNeed(): AuthNeed {
  return need;
}

export function useAuthNeed(): AuthNeed {
  return useSyncExternalStore(
    (fn) => {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
    () => need,
  );
}
