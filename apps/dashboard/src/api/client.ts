// The dashboard's connection to the server it is served from: one @pagoda/client PagodaClient on the
// page's origin, with the API key the user stored in this browser on every request.
import { PagodaApiError, PagodaClient } from '@pagoda/client';

const KEY_STORAGE = 'pagoda.apiKey';

export const apiKey = {
  get: (): string | null => localStorage.getItem(KEY_STORAGE),
  set: (key: string | null) =>
    key ? localStorage.setItem(KEY_STORAGE, key) : localStorage.removeItem(KEY_STORAGE),
};

/** The error every failed call throws: status, the server's message, the field(s) it names. */
export { PagodaApiError as ApiError };

export function authHeaders(): Record<string, string> {
  const key = apiKey.get();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export const api = new PagodaClient({
  endpoint: '',
  apiKey: () => apiKey.get(),
  unreachableHint: 'check that the Pagoda server is running, then reload',
});
