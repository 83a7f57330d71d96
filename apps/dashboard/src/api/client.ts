// The server's HTTP API as functions: the stored API key goes on every request, and every error
// becomes an ApiError carrying the server's message and the field it names.
import type {
  ApiKeyView,
  BenchRun,
  ClusterInfo,
  Device,
  EnginesOf,
  ModelFamily,
  ModelView,
  PlanResponse,
  RegistrationSummary,
  WorkerView,
} from './types.ts';

const KEY_STORAGE = 'pagoda.apiKey';

export const apiKey = {
  get: (): string | null => localStorage.getItem(KEY_STORAGE),
  set: (key: string | null) =>
    key ? localStorage.setItem(KEY_STORAGE, key) : localStorage.removeItem(KEY_STORAGE),
};

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null,
    readonly body: Record<string, unknown> | null,
  ) {
    super(message);
  }

  /** Field-level problems: the `errors` list a registration refusal carries, else the one `param`. */
  get fieldErrors(): FieldError[] {
    const list = this.body?.errors;
    if (Array.isArray(list)) return list as FieldError[];
    return this.param ? [{ field: this.param, message: this.message }] : [];
  }
}

export function authHeaders(): Record<string, string> {
  const key = apiKey.get();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const res = await fetch(path, {
    method,
    signal,
    headers: {
      ...authHeaders(),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const obj = (json && typeof json === 'object' ? json : null) as Record<string, unknown> | null;
    const err = (obj?.error ?? null) as { message?: string; param?: string | null } | null;
    throw new ApiError(
      res.status,
      err?.message ?? (text.slice(0, 300) || `HTTP ${res.status}`),
      err?.param ?? null,
      obj,
    );
  }
  return json as T;
}

const enc = encodeURIComponent;

export const api = {
  registrations: () => request<RegistrationSummary[]>('GET', '/v1/model_registrations/LLM'),
  registration: (name: string) =>
    request<ModelFamily>('GET', `/v1/model_registrations/LLM/${enc(name)}`),
  engines: (name: string) => request<EnginesOf>('GET', `/v1/engines/${enc(name)}`),
  register: (body: Record<string, unknown>) =>
    request<{ model_name: string }>('POST', '/v1/model_registrations/LLM', body),
  unregister: (name: string) => request('DELETE', `/v1/model_registrations/LLM/${enc(name)}`),
  plan: (body: Record<string, unknown>, signal?: AbortSignal) =>
    request<PlanResponse>('POST', '/api/plan', body, signal),
  launch: (body: Record<string, unknown>) =>
    request<{ model_uid: string }>('POST', '/v1/models', body),
  models: () => request<{ data: ModelView[] }>('GET', '/v1/models?all=1').then((r) => r.data),
  readyModels: () => request<{ data: ModelView[] }>('GET', '/v1/models').then((r) => r.data),
  scale: (uid: string, replica: number) =>
    request('POST', `/v1/models/${enc(uid)}/replicas`, { replica }),
  cancel: (uid: string) => request('POST', `/v1/models/${enc(uid)}/cancel`),
  terminate: (uid: string) => request('DELETE', `/v1/models/${enc(uid)}`),
  clusterInfo: () => request<ClusterInfo>('GET', '/v1/cluster/info'),
  devices: () => request<Device[]>('GET', '/v1/cluster/devices'),
  workers: () => request<WorkerView[]>('GET', '/v1/workers'),
  keys: () => request<ApiKeyView[]>('GET', '/api/keys'),
  createKey: (body: Record<string, unknown>) =>
    request<ApiKeyView & { key: string }>('POST', '/api/keys', body),
  revokeKey: (name: string) => request('DELETE', `/api/keys/${enc(name)}`),
  benchRuns: () => request<BenchRun[]>('GET', '/api/bench'),
  startBench: (body: Record<string, unknown>) => request<BenchRun>('POST', '/api/bench', body),
  deleteBench: (id: string) => request('DELETE', `/api/bench/${enc(id)}`),
  metrics: async (): Promise<string> => {
    const res = await fetch('/metrics', { headers: authHeaders() });
    if (!res.ok) throw new ApiError(res.status, `GET /metrics answered ${res.status}`, null, null);
    return res.text();
  },
};
