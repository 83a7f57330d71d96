// The small read-only routes: GET /health, /version, /v1/models, /metrics.
import type { Request, Response } from 'express';
import type { ModelList } from '@pagoda/protocol';
import { ApiError } from '../api-error.ts';
import { requireReady, type RunnerContext } from '../runner-context.ts';

const started = Math.floor(Date.now() / 1000);

export const healthHandler = (ctx: RunnerContext) => (_req: Request, res: Response) => {
  requireReady(ctx);
  res.status(200).end();
};

export const versionHandler = (ctx: RunnerContext) => (_req: Request, res: Response) => {
  res.json({ version: ctx.version });
};

export const modelsHandler = (ctx: RunnerContext) => (_req: Request, res: Response) => {
  const info = ctx.backend.info();
  const list: ModelList = {
    object: 'list',
    data: ctx.servedModelNames.map((id) => ({
      id,
      object: 'model',
      created: started,
      owned_by: 'pagoda',
      root: info.root,
      max_model_len: info.max_model_len,
    })),
  };
  res.json(list);
};

export const metricsHandler = (ctx: RunnerContext) => async (_req: Request, res: Response) => {
  const stats =
    ctx.backend.state() === 'ready' ? await ctx.backend.stats().catch(() => null) : null;
  res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
  res.send(
    ctx.metrics.render(
      { running: ctx.admission.numRunning(), waiting: ctx.admission.numWaiting() },
      stats,
    ),
  );
};

export const notFoundHandler = (req: Request) => {
  throw new ApiError(
    404,
    `no route ${req.method} ${req.path}; this runner serves /v1/chat/completions, /v1/completions, /v1/models, /tokenize, /detokenize, /health, /version and /metrics`,
  );
};
