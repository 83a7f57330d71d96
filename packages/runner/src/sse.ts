// Server-sent events out of an express response: one `data:` event per chunk, `data: [DONE]` at the end,
// waiting on the socket when the client reads slower than we produce.
import type { Response } from 'express';

export function startEventStream(res: Response): void {
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Connection', 'keep-alive');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
}

/** Writes one event; resolves when the socket can take more. */
export async function sendEvent(res: Response, data: unknown): Promise<void> {
  const ok = res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  if (!ok && !res.destroyed) {
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }
}

export function endEventStream(res: Response): void {
  if (!res.destroyed) res.end('data: [DONE]\n\n');
}
