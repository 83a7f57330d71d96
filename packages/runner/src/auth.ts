// --api-key: requests to the OpenAI routes must carry `Authorization: Bearer <key>` (as vLLM checks them).
import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error.ts';

function sameKey(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function requireApiKey(apiKey: string) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !sameKey(match[1]!.trim(), apiKey)) {
      throw new ApiError(
        401,
        match ? 'the API key is not valid' : 'missing API key: send Authorization: Bearer <key>',
        null,
        undefined,
        'invalid_api_key',
      );
    }
    next();
  };
}
