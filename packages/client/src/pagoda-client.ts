// A typed client for Pagoda's REST API (Xinference's route shapes) and its chat endpoint, on fetch,
// for Node 20+ and browsers. Every failure becomes a PagodaApiError carrying the server's own
// message, or a plain statement of why the server was not reached.
import type {
  ApiKeyRequest,
  ApiKeyView,
  BenchRun,
  ChatMessage,
  ClusterDevice,
  ClusterInfo,
  EmbeddingResponse,
  EnginesOf,
  LaunchProgress,
  LaunchRequest,
  ModelFamilyView,
  ModelLogs,
  ModelView,
  PlanResponse,
  RegistrationRequest,
  RegistrationSummary,
  RegistrationUpdated,
  RerankResponse,
  RetryResult,
  WorkerView,
} from '@pagoda/protocol';
import { errorMessage, PagodaApiError } from './api-error.ts';
import { chatDeltas } from './chat-stream.ts';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:9997';

export interface ClientOptions {
  /**
   * Base URL of the server; default PAGODA_ENDPOINT or http://127.0.0.1:9997. In a browser page the
   * server serves, '' sends requests to the page's own origin.
   */
  endpoint?: string;
  /** Sent as a Bearer token; default PAGODA_API_KEY. A function is asked on every request. */
  apiKey?: string | (() => string | null | undefined);
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 60 s; streams are not limited). */
  timeoutMs?: number;
  /** Said after "cannot reach the Pagoda server at URL (why)"; default "is it running?". */
  unreachableHint?: string;
  /** Said after a 401 when no key was given; default "(give an API key: apiKey or PAGODA_API_KEY)". */
  missingKeyHint?: string;
}

export interface ChatOptions {
  max_tokens?: number;
  temperature?: number;
  signal?: AbortSignal;
}

export interface EmbedOptions {
  /** Shorter vectors, where the model allows it (a Matryoshka model); others answer 400. */
  dimensions?: number;
  signal?: AbortSignal;
}

/** An embedding model's answer: one vector per input, in the order the inputs were given. */
export interface EmbedResult {
  vectors: number[][];
  model: string;
  usage: EmbeddingResponse['usage'];
}

export interface RerankOptions {
  /** Keep only the best N documents. */
  top_n?: number;
  /** Echo each document's text in its result. */
  return_documents?: boolean;
  signal?: AbortSignal;
}

export type RerankResult = RerankResponse['results'][number];

/** Lists come as a bare array or as {data: [...]} (OpenAI style); both read as an array. */
export function asList<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (typeof body === 'object' && body !== null && Array.isArray((body as { data?: unknown }).data))
    return (body as { data: T[] }).data;
  return [];
}

/** Environment variables where there are any (Node), none in a browser. */
function processEnv(): Record<string, string | undefined> {
  return (
    (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {}
  );
}

const enc = encodeURIComponent;

export class PagodaClient {
  readonly endpoint: string;
  private readonly apiKey: () => string | undefined;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly unreachableHint: string;
  private readonly missingKeyHint: string;

  constructor(opts: ClientOptions = {}, env: Record<string, string | undefined> = processEnv()) {
    this.endpoint = (opts.endpoint ?? env.PAGODA_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
    const key = opts.apiKey ?? (env.PAGODA_API_KEY || undefined);
    this.apiKey = typeof key === 'function' ? () => key() || undefined : () => key;
    // Called unbound: a browser's fetch refuses to run with a client object as `this`.
    const f = opts.fetch ?? globalThis.fetch;
    this.doFetch = (input, init) => f(input, init);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.unreachableHint = opts.unreachableHint ?? 'is it running?';
    this.missingKeyHint = opts.missingKeyHint ?? '(give an API key: apiKey or PAGODA_API_KEY)';
  }

  /** One HTTP exchange; an error status becomes a PagodaApiError, an unreachable server an Error. */
  async send(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const key = this.apiKey();
    if (key) headers.authorization = `Bearer ${key}`;
    let res: Response;
    try {
      res = await this.doFetch(`${this.endpoint}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ?? AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new Error(
        `cannot reach the Pagoda server at ${this.endpoint || 'this page’s origin'} (${why}); ${this.unreachableHint}`,
        {
          cause: err,
        },
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
      const hint = res.status === 401 && !key ? ` ${this.missingKeyHint}` : '';
      throw new PagodaApiError(res.status, `${message}${hint}`, param, parsed);
    }
    return res;
  }

  /** Any route: the parsed JSON answer (null for an empty body). */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    const res = await this.send(method, path, body, signal);
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
    return this.request('GET', `/v1/models/${enc(uid)}`);
  }
  progress(uid: string): Promise<LaunchProgress> {
    return this.request('GET', `/v1/models/${enc(uid)}/progress`);
  }
  cancel(uid: string): Promise<unknown> {
    return this.request('POST', `/v1/models/${enc(uid)}/cancel`);
  }
  terminate(uid: string): Promise<unknown> {
    return this.request('DELETE', `/v1/models/${enc(uid)}`);
  }
  /** Each replica's recent runner log lines, as the server kept them (the last `lines`, at most 500). */
  logs(uid: string, lines?: number): Promise<ModelLogs> {
    return this.request('GET', `/v1/models/${enc(uid)}/logs${lines ? `?lines=${lines}` : ''}`);
  }
  /** Starts the failed replicas of a model again. */
  retry(uid: string): Promise<RetryResult> {
    return this.request('POST', `/v1/models/${enc(uid)}/retry`);
  }
  scale(uid: string, replica: number): Promise<unknown> {
    return this.request('POST', `/v1/models/${enc(uid)}/replicas`, { replica });
  }
  /** The memory plan of a launch body, nothing launched. */
  plan(body: LaunchRequest, signal?: AbortSignal): Promise<PlanResponse> {
    return this.request('POST', '/api/plan', body, signal);
  }

  register(
    body: RegistrationRequest,
    modelType = 'LLM',
  ): Promise<{ model_name: string; registered: true; family: ModelFamilyView }> {
    return this.request('POST', `/v1/model_registrations/${enc(modelType)}`, body);
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
  ): Promise<RegistrationUpdated> {
    return this.request(
      opts.replace ? 'PUT' : 'PATCH',
      `/v1/model_registrations/${enc(modelType)}/${enc(name)}`,
      changes,
    );
  }
  unregister(name: string, modelType = 'LLM'): Promise<unknown> {
    return this.request('DELETE', `/v1/model_registrations/${enc(modelType)}/${enc(name)}`);
  }
  async registrations(modelType = 'LLM'): Promise<RegistrationSummary[]> {
    return asList(await this.request('GET', `/v1/model_registrations/${enc(modelType)}`));
  }
  registration(name: string, modelType = 'LLM'): Promise<ModelFamilyView> {
    return this.request('GET', `/v1/model_registrations/${enc(modelType)}/${enc(name)}`);
  }
  engines(modelName: string): Promise<EnginesOf> {
    return this.request('GET', `/v1/engines/${enc(modelName)}`);
  }

  async workers(): Promise<WorkerView[]> {
    return asList<WorkerView>(await this.request('GET', '/v1/workers'));
  }
  async devices(): Promise<ClusterDevice[]> {
    return asList<ClusterDevice>(await this.request('GET', '/v1/cluster/devices'));
  }
  clusterInfo(): Promise<ClusterInfo> {
    return this.request('GET', '/v1/cluster/info');
  }

  keys(): Promise<ApiKeyView[]> {
    return this.request('GET', '/api/keys');
  }
  /** Creates an API key; `key` is in this answer only (the server keeps its hash). */
  createKey(body: ApiKeyRequest): Promise<ApiKeyView & { key: string }> {
    return this.request('POST', '/api/keys', body);
  }
  revokeKey(name: string): Promise<unknown> {
    return this.request('DELETE', `/api/keys/${enc(name)}`);
  }

  benchRuns(): Promise<BenchRun[]> {
    return this.request('GET', '/api/bench');
  }
  startBench(body: { model_uid: string } & Partial<BenchRun['params']>): Promise<BenchRun> {
    return this.request('POST', '/api/bench', body);
  }
  deleteBench(id: string): Promise<unknown> {
    return this.request('DELETE', `/api/bench/${enc(id)}`);
  }
  /** GET /metrics: Prometheus text. */
  async metricsText(): Promise<string> {
    return (await this.send('GET', '/metrics')).text();
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
    if (res.body) yield* chatDeltas(res.body as unknown as AsyncIterable<Uint8Array>);
  }

  /**
   * Embeds one text or several through POST /v1/embeddings (floats, not base64): the vectors in input
   * order, whatever order the server lists them in, and the tokens used.
   */
  async embed(
    model: string,
    input: string | string[],
    opts: EmbedOptions = {},
  ): Promise<EmbedResult> {
    const res = await this.request<EmbeddingResponse>(
      'POST',
      '/v1/embeddings',
      { model, input, encoding_format: 'float', dimensions: opts.dimensions },
      opts.signal,
    );
    const count = typeof input === 'string' ? 1 : input.length;
    const vectors: number[][] = new Array<number[]>(count);
    for (const item of res.data) {
      if (typeof item.embedding === 'string' || item.index < 0 || item.index >= count)
        throw new Error(
          `the server answered /v1/embeddings with an unexpected item (index ${item.index})`,
        );
      vectors[item.index] = item.embedding;
    }
    for (let i = 0; i < count; i++)
      if (!vectors[i]) throw new Error(`the server answered /v1/embeddings without input ${i}`);
    return { vectors, model: res.model, usage: res.usage };
  }

  /**
   * Scores documents against a query through POST /v1/rerank: the results best first, as the server
   * ranks them, each with the document's index in `documents` (and its text with return_documents).
   */
  async rerank(
    model: string,
    query: string,
    documents: string[],
    opts: RerankOptions = {},
  ): Promise<RerankResult[]> {
    const res = await this.request<RerankResponse>(
      'POST',
      '/v1/rerank',
      { model, query, documents, top_n: opts.top_n, return_documents: opts.return_documents },
      opts.signal,
    );
    return res.results;
  }

  /** One chat completion, not streamed: the assistant's text. */
  async chat(model: string, messages: ChatMessage[], opts: ChatOptions = {}): Promise<string> {
    const res = await this.request<{ choices: Array<{ message: { content: string | null } }> }>(
      'POST',
      '/v1/chat/completions',
      { model, messages, max_tokens: opts.max_tokens, temperature: opts.temperature },
      opts.signal,
    );
    return res.choices[0]?.message.content ?? '';
  }
}
