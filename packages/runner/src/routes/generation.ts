// One generation request from HTTP to backend and back, shared by chat and completions: validate, admit,
// stream as SSE or fold into one body, record vLLM's per-request metrics, abort on client disconnect.
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Usage } from '@pagoda/protocol';
import type { z } from 'zod';
import { toApiError } from '../api-error.ts';
import type { GenerateContext } from '../backend.ts';
import { requireReady, resolveModel, type RunnerContext } from '../runner-context.ts';
import { EventStream } from '../sse.ts';
import { parseBody } from './parse-body.ts';

interface AnyChunk {
  choices: Array<{ index: number; finish_reason: string | null }>;
  usage?: Usage | null;
}

interface BaseRequest {
  model?: string | null;
  n?: number | null;
  stream?: boolean | null;
  /** Chat and completions: include_usage; the Responses API: include_obfuscation (no usage chunk there). */
  stream_options?: { include_usage?: boolean | null; include_obfuscation?: boolean | null } | null;
}

export interface GenerationKind<Req extends BaseRequest, Chunk extends AnyChunk> {
  schema: z.ZodType<Req>;
  /** The response id's start, separator included (chatcmpl-, cmpl-, resp_). */
  idPrefix: string;
  /** How many sequences the request runs at once (n times the number of prompts). */
  sequences(req: Req): number;
  start(ctx: RunnerContext, req: Req, gen: GenerateContext): AsyncIterable<Chunk>;
  /** Whether this chunk carries generated text or tokens (for TTFT and ITL). */
  hasTokens(chunk: Chunk): boolean;
  aggregator(req: Req, gen: GenerateContext): { add(chunk: Chunk): void; result(): unknown };
  /**
   * A stream told in the API's own typed events (the Responses API) rather than as the chunks
   * themselves; such a stream has no `data: [DONE]`.
   */
  events?(req: Req, gen: GenerateContext): ChunkEvents<Chunk>;
}

/** How a stream's chunks become named events: some first, some per chunk, some at the end or on a failure. */
export interface ChunkEvents<Chunk> {
  start(): Array<{ type: string }>;
  add(chunk: Chunk): Array<{ type: string }>;
  finish(): Array<{ type: string }>;
}

export function generationHandler<Req extends BaseRequest, Chunk extends AnyChunk>(
  ctx: RunnerContext,
  kind: GenerationKind<Req, Chunk>,
) {
  return async (httpReq: Request, res: Response): Promise<void> => {
    const arrival = performance.now();
    requireReady(ctx);
    const req = parseBody(kind.schema, httpReq.body);
    const model = resolveModel(ctx, req.model);

    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const release = await ctx.admission.acquire(kind.sequences(req), abort.signal);
    const tracker = new RequestTracker(ctx, arrival);
    tracker.admitted();
    try {
      const gen: GenerateContext = {
        signal: abort.signal,
        requestId: `${kind.idPrefix}${randomUUID().replace(/-/g, '')}`,
        model,
      };
      const iterator = kind.start(ctx, req, gen)[Symbol.asyncIterator]();
      try {
        const first = await iterator.next(); // bad requests fail here, before any header is sent
        if (req.stream && kind.events) await streamEvents(res, iterator, first, kind, kind.events(req, gen), tracker);
        else if (req.stream) await stream(res, iterator, first, req, kind, tracker);
        else await respond(res, iterator, first, kind, kind.aggregator(req, gen), tracker);
      } finally {
        await iterator.return?.(); // a no-op once finished; frees the backend's work if we left early
      }
    } finally {
      release();
      tracker.finished(abort.signal.aborted);
    }
  };
}

async function stream<Req extends BaseRequest, Chunk extends AnyChunk>(
  res: Response,
  iterator: AsyncIterator<Chunk>,
  first: IteratorResult<Chunk>,
  req: Req,
  kind: GenerationKind<Req, Chunk>,
  tracker: RequestTracker,
): Promise<void> {
  const includeUsage = req.stream_options?.include_usage === true;
  const events = new EventStream(res);
  try {
    for (let step = first; !step.done; step = await iterator.next()) {
      if (res.destroyed) return;
      const chunk = step.value;
      tracker.chunk(chunk, kind.hasTokens(chunk));
      if (chunk.choices.length === 0 && chunk.usage && !includeUsage) continue;
      const payload =
        includeUsage || chunk.choices.length === 0 || chunk.usage === undefined
          ? chunk
          : { ...chunk, usage: undefined };
      // waits only when the client reads slower than tokens come
      if (!events.write(payload)) await events.drained();
    }
  } catch (err) {
    const apiErr = toApiError(err);
    tracker.failed(apiErr.status >= 500 && apiErr.status !== 503 ? err : null);
    events.write(apiErr.body());
  }
  events.end();
}

/** A stream in the API's named events: each event's type is its SSE event name too. */
async function streamEvents<Req extends BaseRequest, Chunk extends AnyChunk>(
  res: Response,
  iterator: AsyncIterator<Chunk>,
  first: IteratorResult<Chunk>,
  kind: GenerationKind<Req, Chunk>,
  told: ChunkEvents<Chunk>,
  tracker: RequestTracker,
): Promise<void> {
  const events = new EventStream(res);
  const send = async (list: Array<{ type: string }>) => {
    let ok = true;
    for (const e of list) ok = events.write(e, e.type) && ok;
    if (!ok) await events.drained();
  };
  try {
    await send(told.start());
    for (let step = first; !step.done; step = await iterator.next()) {
      if (res.destroyed) return;
      tracker.chunk(step.value, kind.hasTokens(step.value));
      await send(told.add(step.value));
    }
    await send(told.finish());
  } catch (err) {
    const apiErr = toApiError(err);
    tracker.failed(apiErr.status >= 500 && apiErr.status !== 503 ? err : null);
    const { error } = apiErr.body();
    events.write({ type: 'error', code: error.code ?? error.type, message: error.message, param: error.param }, 'error');
  }
  events.end(false);
}

async function respond<Req extends BaseRequest, Chunk extends AnyChunk>(
  res: Response,
  iterator: AsyncIterator<Chunk>,
  first: IteratorResult<Chunk>,
  kind: GenerationKind<Req, Chunk>,
  agg: { add(chunk: Chunk): void; result(): unknown },
  tracker: RequestTracker,
): Promise<void> {
  for (let step = first; !step.done; step = await iterator.next()) {
    tracker.chunk(step.value, kind.hasTokens(step.value));
    agg.add(step.value);
  }
  if (!res.destroyed) res.json(agg.result());
}

/** Times one request for the vLLM histograms and counts its tokens when it ends. */
class RequestTracker {
  private firstTokenAt: number | null = null;
  private lastTokenAt = 0;
  private usage: Usage | null = null;
  private finishReason: string | null = null;
  private error = false;

  constructor(
    private readonly ctx: RunnerContext,
    private readonly arrival: number,
  ) {}

  admitted(): void {
    this.ctx.metrics.observeQueueTime((performance.now() - this.arrival) / 1000);
  }

  chunk(chunk: AnyChunk, hasTokens: boolean): void {
    const now = performance.now();
    if (hasTokens) {
      if (this.firstTokenAt === null) {
        this.firstTokenAt = now;
        this.ctx.metrics.observeFirstToken((now - this.arrival) / 1000);
      } else {
        this.ctx.metrics.observeInterToken((now - this.lastTokenAt) / 1000);
      }
      this.lastTokenAt = now;
    }
    if (chunk.usage) this.usage = chunk.usage;
    for (const c of chunk.choices) if (c.finish_reason) this.finishReason = c.finish_reason;
  }

  /** The stream ended in an error; `fault` (an unexpected one) is logged whole, the client gets a summary. */
  failed(fault: unknown = null): void {
    this.error = true;
    if (fault !== null) this.ctx.log.error({ err: fault }, 'request failed mid-stream');
  }

  finished(aborted: boolean): void {
    if (this.firstTokenAt === null && !this.usage) return; // rejected before generating: not a request the engine served
    this.ctx.metrics.observeFinished({
      promptTokens: this.usage?.prompt_tokens ?? 0,
      generationTokens: this.usage?.completion_tokens ?? 0,
      finishReason: aborted || this.error ? 'abort' : (this.finishReason ?? 'abort'),
      e2eSeconds: (performance.now() - this.arrival) / 1000,
    });
  }
}
