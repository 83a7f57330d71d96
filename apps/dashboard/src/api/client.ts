// The dashboard's connection to the server it is served from: one @pagoda/client PagodaClient on the
// page's origin, with the API key the user stored in this browser on every request.
import { PagodaApiError, PagodaClient } from '@pagoda/client';

const KEY_STORAGE = 'pagoda.apiKey';
/** Dispatched on window when the stored key changes: the events socket reconnects with the new one. */
export const API_KEY_CHANGED = 'pagoda-api-key';

export const apiKey = {
  get: (): string | null => localStorage.getItem(KEY_STORAGE),
  set: (key: string | null) => {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
    window.dispatchEvent(new Event(API_KEY_CHANGED));
  },
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
