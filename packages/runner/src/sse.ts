// Server-sent events out of an express response: one `data:` event per chunk, `data: [DONE]` at the end,
// waiting on the socket when the client reads slower than we produce.
import type { Socket } from 'node:net';
import type { Response } from 'express';

const corked = new WeakSet<Socket>();

/**
 * Holds a socket's writes until the event loop's check phase. When the event loop keeps up, that is
 * one engine step per turn and nothing changes; when it falls behind and one turn handles several
 * steps, their events leave in one system call instead of one each, so it catches up.
 */
function corkUntilImmediate(socket: Socket | null): void {
  if (!socket || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  setImmediate(() => {
    corked.delete(socket);
    socket.uncork();
  });
}

export function startEventStream(res: Response): void {
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Connection', 'keep-alive');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
}

/** Writes one event; false when the socket's buffer is full and the caller should wait for drain. */
export function writeEvent(res: Response, data: unknown): boolean {
  corkUntilImmediate(res.socket);
  return res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

/** Resolves when the socket can take more (or is gone). */
export function drained(res: Response): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export function endEventStream(res: Response): void {
  if (!res.destroyed) res.end('data: [DONE]\n\n');
}
