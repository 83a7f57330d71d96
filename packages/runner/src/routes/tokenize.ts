// POST /tokenize and POST /detokenize, as vLLM offers them.
import { DetokenizeRequestSchema, TokenizeRequestSchema } from '@pagoda/protocol';
import type { Request, Response } from 'express';
import { requireReady, resolveModel, type RunnerContext } from '../runner-context.ts';
import { parseBody } from './parse-body.ts';

export const tokenizeHandler = (ctx: RunnerContext) => async (req: Request, res: Response) => {
  requireReady(ctx);
  const body = parseBody(TokenizeRequestSchema, req.body);
  resolveModel(ctx, body.model);
  res.json(await ctx.backend.tokenize(body));
};

export const detokenizeHandler = (ctx: RunnerContext) => async (req: Request, res: Response) => {
  requireReady(ctx);
  const body = parseBody(DetokenizeRequestSchema, req.body);
  resolveModel(ctx, body.model);
  res.json(await ctx.backend.detokenize(body));
};
