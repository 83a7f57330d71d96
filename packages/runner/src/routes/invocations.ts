// POST /invocations (SageMaker's one inference route, as vLLM serves it): the body's fields say which
// API it is for, and it is answered exactly as that route answers it.
import type { Request, RequestHandler, Response, NextFunction } from 'express';
import { badRequest } from '../api-error.ts';

export interface InvocationRoutes {
  chat: RequestHandler;
  completions: RequestHandler;
  embeddings: RequestHandler;
  rerank: RequestHandler;
  score: RequestHandler;
}

/** The route a body is for, from the field only that API has. */
export function invocationKind(body: unknown): keyof InvocationRoutes | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const has = (key: string) => key in body;
  if (has('messages')) return 'chat';
  if (has('prompt')) return 'completions';
  if (has('input')) return 'embeddings';
  if (has('query') && has('documents')) return 'rerank';
  if (has('text_1')) return 'score';
  return null;
}

export function invocationsHandler(routes: InvocationRoutes): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const kind = invocationKind(req.body);
    if (kind === null)
      throw badRequest(
        'cannot tell which API this body is for: send messages (chat), prompt (completions), input (embeddings), query and documents (rerank) or text_1 and text_2 (score)',
      );
    return routes[kind](req, res, next);
  };
}
