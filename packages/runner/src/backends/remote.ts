// The remote backend: any OpenAI-compatible server (vLLM, SGLang, Ollama, another runner) at a base URL.
// Generation is always streamed from upstream so both response modes come from one path.
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  Completion,
  CompletionChunk,
  CompletionRequest,
  DetokenizeRequest,
  DetokenizeResponse,
  TokenizeRequest,
  TokenizeResponse,
} from '@pagoda/protocol';
import { ApiError } from '../api-error.ts';
import type {
  Backend,
  BackendInfo,
  BackendStats,
  GenerateContext,
} from '../backend.ts';
import { BackendLifecycle } from './backend-lifecycle.ts';
import { statsFromPrometheus } from './prometheus-scrape.ts';
import { readServerSentEvents } from './sse-reader.ts';

export interface RemoteBackendOptions {
  /** e.g. http://127.0.0.1:8000/v1 */
  baseUrl: string;
  /** The model name upstream knows. */
  model: string;
  apiKey?: string;
  /** How long load() waits for GET /models to answer (ms). */
  readyTimeoutMs?: number;
}

export class RemoteBackend extends BackendLifecycle implements Backend {
  readonly kind: Backend['kind'] = 'remote';
  private maxModelLen: number | null = null;
  protected readonly baseUrl: string;
  protected readonly origin: string;

  constructor(protected readonly opts: RemoteBackendOptions) {
    super();
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.origin = this.baseUrl.replace(/\/v1$/, '');
  }

  info(): BackendInfo {
    return { root: this.baseUrl, max_model_len: this.maxModelLen };
  }

  async load(): Promise<void> {
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 30_000);
    let last = '';
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.baseUrl}/models`, { headers: this.headers() });
        if (res.ok) {
          const list = (await res.json()) as {
            data?: Array<{ id: string; max_model_len?: number }>;
          };
          const card = list.data?.find((m) => m.id === this.opts.model);
          if (list.data && !card) {
            throw new Error(
              `${this.baseUrl} does not serve '${this.opts.model}' (it serves ${list.data.map((m) => `'${m.id}'`).join(', ')}); pass one of those as the model`,
            );
          }
          this.maxModelLen = card?.max_model_len ?? null;
          this.current = 'ready';
          return;
        }
        last = `GET /models answered ${res.status}`;
      } catch (err) {
        if (err instanceof Error && err.message.includes('does not serve')) {
          this.fail(err.message);
          throw err;
        }
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const message = `the remote server at ${this.baseUrl} did not answer GET /models in time (${last})`;
    this.fail(message);
    throw new Error(message);
  }

  chat(req: ChatCompletionRequest, ctx: GenerateContext): AsyncIterable<ChatCompletionChunk> {
    if (scoresPrompt(req)) return this.answerFrom('/chat/completions', req, ctx, chatAsChunk);
    return this.streamFrom<ChatCompletionChunk>('/chat/completions', req, ctx);
  }

  completions(req: CompletionRequest, ctx: GenerateContext): AsyncIterable<CompletionChunk> {
    if (scoresPrompt(req)) return this.answerFrom('/completions', req, ctx, (c: Completion) => c);
    return this.streamFrom<CompletionChunk>('/completions', req, ctx);
  }

  /**
   * A request upstream must answer whole (vLLM gives prompt_logprobs only to one that does not
   * stream), as the one chunk the runner folds back into that answer.
   */
  private async *answerFrom<A, T extends { model: string }>(
    path: string,
    req: ChatCompletionRequest | CompletionRequest,
    ctx: GenerateContext,
    asChunk: (answer: A) => T,
  ): AsyncGenerator<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify({ ...req, model: this.opts.model, stream: false }),
        signal: ctx.signal,
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (!res.ok) throw await upstreamError(res);
    let answer: A;
    try {
      answer = (await res.json()) as A;
    } catch (err) {
      throw this.unreachable(err);
    }
    yield { ...asChunk(answer), model: ctx.model };
  }

  protected headers(): Record<string, string> {
    const h: Record<string, string> = { 'Content-Type': 'application/json' };
    if (this.opts.apiKey) h.Authorization = `Bearer ${this.opts.apiKey}`;
    return h;
  }

  private async *streamFrom<T extends { model: string }>(
    path: string,
    req: ChatCompletionRequest | CompletionRequest,
    ctx: GenerateContext,
  ): AsyncGenerator<T> {
    // Usage is always asked for (the non-streamed answer and the metrics need it); per-chunk counts
    // only when the client asked, since not every upstream knows vLLM's continuous_usage_stats.
    const continuous = req.stream_options?.continuous_usage_stats === true;
    const body = {
      ...req,
      model: this.opts.model,
      stream: true,
      stream_options: { include_usage: true, ...(continuous ? { continuous_usage_stats: true } : {}) },
    };
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify(body),
        signal: ctx.signal,
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (!res.ok || !res.body) throw await upstreamError(res);
    try {
      for await (const event of readServerSentEvents(res.body)) {
        const e = event as {
          error?: {
            message?: string;
            type?: string;
            param?: string | null;
            code?: string | number | null;
          };
        };
        if (e.error)
          throw new ApiError(
            502,
            `upstream error: ${e.error.message ?? 'unknown'}`,
            e.error.param ?? null,
            e.error.type,
            e.error.code == null ? null : String(e.error.code),
          );
        yield { ...(event as T), model: ctx.model };
      }
    } catch (err) {
      if (err instanceof ApiError || ctx.signal.aborted) throw err;
      throw this.unreachable(err);
    }
  }

  protected unreachable(err: unknown): ApiError {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return new ApiError(
      502,
      `the backend server at ${this.baseUrl} failed: ${(err as Error).message}${cause ? ` (${cause})` : ''}`,
    );
  }

  async tokenize(req: TokenizeRequest): Promise<TokenizeResponse> {
    return (await this.postJson('/tokenize', {
      ...req,
      model: this.opts.model,
    })) as TokenizeResponse;
  }

  async detokenize(req: DetokenizeRequest): Promise<DetokenizeResponse> {
    return (await this.postJson('/detokenize', {
      ...req,
      model: this.opts.model,
    })) as DetokenizeResponse;
  }

  protected async postJson(path: string, body: object): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.origin}${path}`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (res.status === 404)
      throw new ApiError(501, `the backend server at ${this.origin} has no ${path} route`);
    if (!res.ok) throw await upstreamError(res);
    return res.json();
  }

  async stats(): Promise<BackendStats | null> {
    try {
      const res = await fetch(`${this.origin}/metrics`, { signal: AbortSignal.timeout(2000) });
      return res.ok ? statsFromPrometheus(await res.text()) : null;
    } catch {
      return null;
    }
  }

  async shutdown(): Promise<void> {
    this.current = 'stopped';
  }
}

/** Upstream's error as ours: its status and message are kept (a 400 upstream is a 400 here). */
async function upstreamError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as {
      error?: {
        message?: string;
        type?: string;
        param?: string | null;
        code?: string | number | null;
      };
      message?: string;
    };
    const e = body.error;
    if (e)
      return new ApiError(res.status, e.message ?? text, e.param ?? null, e.type, e.code == null ? null : String(e.code));
    if (body.message) return new ApiError(res.status, body.message);
  } catch {
    // not JSON: fall through
  }
  return new ApiError(res.status, `upstream answered ${res.status}: ${text.slice(0, 500)}`);
}

/** prompt_logprobs above 0: only a request that does not stream may ask (the schema refuses the rest). */
function scoresPrompt(req: ChatCompletionRequest | CompletionRequest): boolean {
  return (req.prompt_logprobs ?? 0) > 0;
}

/** A whole chat answer as one chunk: each message becomes its choice's delta. */
function chatAsChunk(answer: ChatCompletion): ChatCompletionChunk {
  return {
    id: answer.id,
    object: 'chat.completion.chunk',
    created: answer.created,
    model: answer.model,
    choices: answer.choices.map((c) => ({
      index: c.index,
      delta: {
        role: 'assistant' as const,
        content: c.message.content,
        ...((c.message.reasoning_content ?? c.message.reasoning) != null
          ? { reasoning_content: c.message.reasoning_content ?? c.message.reasoning }
          : {}),
        ...(c.message.tool_calls?.length
          ? { tool_calls: c.message.tool_calls.map((t, index) => ({ index, ...t })) }
          : {}),
      },
      logprobs: c.logprobs ?? null,
      finish_reason: c.finish_reason,
      stop_reason: c.stop_reason ?? null,
      ...(c.token_ids ? { token_ids: c.token_ids } : {}),
    })),
    usage: answer.usage ?? null,
    prompt_logprobs: answer.prompt_logprobs ?? null,
    ...(answer.prompt_token_ids ? { prompt_token_ids: answer.prompt_token_ids } : {}),
  };
}
