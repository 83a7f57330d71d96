// A typed client for Pagoda's REST API (Xinference's route shapes), on fetch. Every failure becomes
// a PagodaApiError carrying the server's own message, or a plain statement of why it was not reached.
import type { LaunchRequest, ModelView, RegistrationRequest } from '@pagoda/protocol';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:9997';

export interface ClientOptions {
  /** Base URL of the server; default PAGODA_ENDPOINT or http://127.0.0.1:9997. */
  endpoint?: string;
  /** Sent as a Bearer token; default PAGODA_API_KEY. */
  apiKey?: string;
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 60 s; streams are not limited). */
  timeoutMs?: number;
}

/** The server answered with an error status; `message` is the server's own. */
export class PagodaApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'PagodaApiError';
  }
}

/** The server's message from an error body: OpenAI's {error: {message}}, Xinference's {detail}, or text. */
export function errorMessage(
  body: unknown,
  status: number,
): { message: string; param: string | null } {
  if (typeof body === 'object' && body !== null) {
    const b = body as { error?: unknown; detail?: unknown; message?: unknown };
    if (
      typeof b.error === 'object' &&
      b.error !== null &&
      typeof (b.error as { message?: unknown }).message === 'string'
    ) {
      const e = b.error as { message: string; param?: unknown };
      return { message: e.message, param: typeof e.param === 'string' ? e.param : null };
    }
    if (typeof b.error === 'string') return { message: b.error, param: null };
    if (typeof b.detail === 'string') return { message: b.detail, param: null };
    if (typeof b.message === 'string') return { message: b.message, param: null };
  }
  if (typeof body === 'string' && body.trim() !== '')
    return { message: body.trim().slice(0, 500), param: null };
  return { message: `HTTP ${status}`, param: null };
}

export interface ReplicaProgress {
  index?: number;
  status?: string;
  progress?: number;
  phase?: string | null;
  last_error?: string | null;
}

/** GET /v1/models/{uid}/progress: overall 0..1, and per replica when the server tells. */
export interface LaunchProgress {
  progress: number;
  status?: string;
  phase?: string | null;
  last_error?: string | null;
  replicas?: ReplicaProgress[];
}

export interface WorkerView {
  worker?: string;
  worker_id?: string;
  host?: string;
  address?: string;
  status?: string;
  last_heartbeat?: string | null;
  /** A count, or the devices themselves. */
  gpus?: number;
  devices?: unknown[];
  replicas?: number | unknown[];
  [key: string]: unknown;
}

export interface DeviceView {
  worker?: string;
  worker_id?: string;
  kind?: string;
  index: number;
  name?: string;
  memory_total?: number;
  memory_used?: number;
  memory_claimed?: number;
  utilization?: number;
  declared?: boolean;
  [key: string]: unknown;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatOptions {
  max_tokens?: number;
  temperature?: number;
  signal?: AbortSignal;
}

/** Lists come as a bare array or as {data: [...]} (OpenAI style); both read as an array. */
export function asList<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (typeof body === 'object' && body !== null && Array.isArray((body as { data?: unknown }).data))
    return (body as { data: T[] }).data;
  return [];
}

export class PagodaClient {
  readonly endpoint: string;
  private readonly apiKey: string | undefined;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions = {}, env: NodeJS.ProcessEnv = process.env) {
    this.endpoint = (opts.endpoint ?? env.PAGODA_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
    this.apiKey = opts.apiKey ?? (env.PAGODA_API_KEY || undefined);
    this.doFetch = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const url = `${this.endpoint}${path}`;
    let res: Response;
    try {
      res = await this.doFetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ?? AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new Error(
        `cannot reach the Pagoda server at ${this.endpoint} (${why}); is it running? Point --endpoint or PAGODA_ENDPOINT at it`,
        { cause: err },
      );
    }
    if (!res.ok) {
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // a plain-text body is the message itself
      }
      const { message, param } = errorMessage(parsed, res.status);
      const hint =
        res.status === 401 && !this.apiKey ? ' (give --api-key or set PAGODA_API_KEY)' : '';
      throw new PagodaApiError(res.status, `${message}${hint}`, param, parsed);
    }
    return res;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    const text = await res.text();
    return (text === '' ? null : JSON.parse(text)) as T;
  }

  launch(body: LaunchRequest): Promise<{ model_uid: string } & Record<string, unknown>> {
    return this.request('POST', '/v1/models', body);
  }
  /** Every launched model; `all: false` keeps only those serving (what GET /v1/models lists by default). */
  async listModels(opts: { all?: boolean } = {}): Promise<ModelView[]> {
    return asList<ModelView>(
      await this.request('GET', opts.all === false ? '/v1/models' : '/v1/models?all=1'),
    );
  }
  getModel(uid: string): Promise<ModelView> {
    return this.request('GET', `/v1/models/${encodeURIComponent(uid)}`);
  }
  progress(uid: string): Promise<LaunchProgress> {
    return this.request('GET', `/v1/models/${encodeURIComponent(uid)}/progress`);
  }
  cancel(uid: string): Promise<unknown> {
    return this.request('POST', `/v1/models/${encodeURIComponent(uid)}/cancel`);
  }
  terminate(uid: string): Promise<unknown> {
    return this.request('DELETE', `/v1/models/${encodeURIComponent(uid)}`);
  }
  scale(uid: string, replica: number): Promise<unknown> {
    return this.request('POST', `/v1/models/${encodeURIComponent(uid)}/replicas`, { replica });
  }
  register(body: RegistrationRequest, modelType = 'LLM'): Promise<unknown> {
    return this.request('POST', `/v1/model_registrations/${encodeURIComponent(modelType)}`, body);
  }
  /**
   * Changes a registered model. By default only the fields given change (PATCH); `replace: true`
   * sends the whole registration (PUT). Instances already launched keep the old values.
   */
  updateRegistration(
    name: string,
    changes: Partial<RegistrationRequest>,
    modelType = 'LLM',
    opts: { replace?: boolean } = {},
  ): Promise<{ model_name: string; updated: boolean; launched_as: string[] }> {
    return this.request(
      opts.replace ? 'PUT' : 'PATCH',
      `/v1/model_registrations/${encodeURIComponent(modelType)}/${encodeURIComponent(name)}`,
      changes,
    );
  }
  unregister(name: string, modelType = 'LLM'): Promise<unknown> {
    return this.request(
      'DELETE',
      `/v1/model_registrations/${encodeURIComponent(modelType)}/${encodeURIComponent(name)}`,
    );
  }
  async registrations(modelType = 'LLM'): Promise<Array<Record<string, unknown>>> {
    return asList(
      await this.request('GET', `/v1/model_registrations/${encodeURIComponent(modelType)}`),
    );
  }
  registration(name: string, modelType = 'LLM'): Promise<Record<string, unknown>> {
    return this.request(
      'GET',
      `/v1/model_registrations/${encodeURIComponent(modelType)}/${encodeURIComponent(name)}`,
    );
  }
  engines(modelName: string): Promise<Record<string, unknown[]>> {
    return this.request('GET', `/v1/engines/${encodeURIComponent(modelName)}`);
  }
  plan(body: LaunchRequest): Promise<Record<string, unknown>> {
    return this.request('POST', '/api/plan', body);
  }
  async workers(): Promise<WorkerView[]> {
    return asList<WorkerView>(await this.request('GET', '/v1/workers'));
  }
  async devices(): Promise<DeviceView[]> {
    return asList<DeviceView>(await this.request('GET', '/v1/cluster/devices'));
  }
  clusterInfo(): Promise<Record<string, unknown>> {
    return this.request('GET', '/v1/cluster/info');
  }

  /** Streams a chat completion: yields content deltas as the server sends them (SSE). */
  async *chatStream(
    model: string,
    messages: ChatMessage[],
    opts: ChatOptions = {},
  ): AsyncGenerator<string> {
    const body = {
      model,
      messages,
      stream: true,
      max_tokens: opts.max_tokens,
      temperature: opts.temperature,
    };
    const res = await this.send(
      'POST',
      '/v1/chat/completions',
      body,
      opts.signal ?? new AbortController().signal,
    );
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') return;
          const parsed = JSON.parse(data) as {
            choices?: Array<{ delta?: { content?: string | null } }>;
            error?: unknown;
          };
          if (parsed.error)
            throw new PagodaApiError(500, errorMessage(parsed, 500).message, null, parsed);
          const text = parsed.choices?.[0]?.delta?.content;
          if (text) yield text;
        }
      }
    }
  }

  /** One chat completion, not streamed: the assistant's text. */
  async chat(model: string, messages: ChatMessage[], opts: ChatOptions = {}): Promise<string> {
    const res = await this.request<{ choices: Array<{ message: { content: string | null } }> }>(
      'POST',
      '/v1/chat/completions',
      {
        model,
        messages,
        max_tokens: opts.max_tokens,
        temperature: opts.temperature,
      },
    );
    return res.choices[0]?.message.content ?? '';
  }
}
