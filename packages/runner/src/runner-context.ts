// What every route of one runner shares: the backend, admission, metrics and the names it answers to.
import type { Logger } from 'pino';
import { clip, redactPaths } from '@pagoda/protocol';
import type { Admission } from './admission.ts';
import { ApiError } from './api-error.ts';
import type { Backend } from './backend.ts';
import type { RunnerMetrics } from './metrics.ts';

export interface RunnerContext {
  backend: Backend;
  admission: Admission;
  metrics: RunnerMetrics;
  /** The first is the name responses report. */
  servedModelNames: string[];
  apiKey: string | null;
  maxBodyBytes: number;
  /** Web origins whose pages may call (CORS); '*' for any. */
  allowedOrigins: readonly string[];
  version: string;
  log: Logger;
}

/** The served name a request addresses; unknown names are a 404 as in vLLM. */
export function resolveModel(ctx: RunnerContext, requested: string | null | undefined): string {
  if (requested == null || requested === '') return ctx.servedModelNames[0]!;
  if (!ctx.servedModelNames.includes(requested)) {
    throw new ApiError(
      404,
      `The model '${clip(requested)}' does not exist. This server serves: ${ctx.servedModelNames.map((n) => `'${n}'`).join(', ')}.`,
      'model',
      undefined,
      'model_not_found',
    );
  }
  return requested;
}

/** 503 until the backend is ready, with the reason when it failed. */
export function requireReady(ctx: RunnerContext): void {
  const state = ctx.backend.state();
  if (state === 'ready') return;
  const why = ctx.backend.failure();
  const message =
    state === 'loading'
      ? 'the model is still loading; retry when GET /health answers 200'
      : `the model is not available (${state}${why ? `: ${redactPaths(why)}` : ''})`;
  throw new ApiError(503, message);
}
