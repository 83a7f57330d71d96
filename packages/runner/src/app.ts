// The runner's express app: OpenAI routes over one backend, errors in OpenAI's shape.
import express, { type NextFunction, type Request, type Response } from 'express';
import { clip, corsHeaders } from '@pagoda/protocol';
import { ApiError, toApiError } from './api-error.ts';
import { requireApiKey } from './auth.ts';
import type { RunnerContext } from './runner-context.ts';
import { chatCompletionsHandler } from './routes/chat.ts';
import { completionsHandler } from './routes/completions.ts';
import { invocationsHandler } from './routes/invocations.ts';
import { responsesHandler } from './routes/responses.ts';
import {
  healthHandler,
  metricsHandler,
  modelsHandler,
  notFoundHandler,
  versionHandler,
} from './routes/info.ts';
import { embeddingsHandler, rerankHandler, scoreHandler } from './routes/pooling.ts';
import { detokenizeHandler, tokenizeHandler } from './routes/tokenize.ts';

export function createApp(ctx: RunnerContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Browser pages on the allowed origins may call (vLLM's --allowed-origins, default any); a preflight
  // is answered here, before the key check, as browsers send it without the key.
  app.use((req, res, next) => {
    const cors = corsHeaders(
      {
        method: req.method,
        origin: req.get('origin'),
        requestMethod: req.get('access-control-request-method'),
        requestHeaders: req.get('access-control-request-headers'),
      },
      ctx.allowedOrigins,
    );
    if (cors) res.set(cors.headers);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) return void res.status(204).end();
    next();
  });
  app.use(express.json({ limit: ctx.maxBodyBytes, type: () => true }));

  app.get('/health', healthHandler(ctx));
  // SageMaker's health probe, as vLLM answers it
  app.all('/ping', healthHandler(ctx));
  app.get('/version', versionHandler(ctx));
  app.get('/metrics', metricsHandler(ctx));

  if (ctx.apiKey) {
    const auth = requireApiKey(ctx.apiKey);
    app.use('/v1', auth);
    app.use(['/tokenize', '/detokenize', '/score', '/rerank', '/invocations'], auth);
  }
  const routes = {
    chat: chatCompletionsHandler(ctx),
    completions: completionsHandler(ctx),
    embeddings: embeddingsHandler(ctx),
    rerank: rerankHandler(ctx),
    score: scoreHandler(ctx),
  };
  app.get('/v1/models', modelsHandler(ctx));
  app.post('/v1/chat/completions', routes.chat);
  app.post('/v1/completions', routes.completions);
  app.post('/v1/responses', responsesHandler(ctx));
  app.post('/v1/embeddings', routes.embeddings);
  app.post(['/v1/rerank', '/rerank', '/v2/rerank'], routes.rerank);
  app.post(['/score', '/v1/score'], routes.score);
  app.post('/invocations', invocationsHandler(routes));
  app.post('/tokenize', tokenizeHandler(ctx));
  app.post('/detokenize', detokenizeHandler(ctx));
  app.use(notFoundHandler);
  app.use(errorHandler(ctx));
  return app;
}

/** Body-parser failures carry a status and a type; everything else is an ApiError or a 500. */
function fromHttpError(err: unknown, maxBodyBytes: number): ApiError {
  const e = err as { status?: number; type?: string; message?: string };
  if (e?.type === 'entity.too.large') {
    return new ApiError(
      413,
      `the request body is larger than the limit of ${maxBodyBytes} bytes; send less or start the server with a larger --max-request-body-bytes`,
      null,
      undefined,
      'request_too_large',
    );
  }
  if (e?.type === 'entity.parse.failed')
    return new ApiError(
      400,
      `the request body is not valid JSON: ${clip(e.message ?? '', 200)}`,
      null,
      undefined,
      'invalid_json',
    );
  if (
    typeof e?.status === 'number' &&
    e.status >= 400 &&
    e.status < 500 &&
    !(err instanceof ApiError)
  ) {
    return new ApiError(e.status, clip(e.message ?? 'bad request', 200));
  }
  return toApiError(err);
}

function errorHandler(ctx: RunnerContext) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const apiErr = fromHttpError(err, ctx.maxBodyBytes);
    // 503 while loading is expected traffic (health probes, early clients), not a fault
    if (apiErr.status >= 500 && apiErr.status !== 503) ctx.log.error({ err }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(apiErr.status).json(apiErr.body());
  };
}
