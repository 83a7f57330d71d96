// Server-sent events out of an express response: one `data:` event per chunk, `data: [DONE]` at the end,
// the events of one event-loop turn sent in one write, waiting on the socket when the client reads slowly.
import type { Response } from 'express';

/**
 * One response's event stream. Events queue as text and leave once per event-loop turn (the check
 * phase): when the loop keeps up that is one engine step's event per write, when it falls behind the
 * events of several steps share one system call, so it catches up instead of falling further back.
 */
export class EventStream {
  private pending = '';
  private scheduled = false;

  constructor(private readonly res: Response) {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    // No flushHeaders(): the head leaves with the first events, one system call fewer per request.
  }

  /**
   * Queues one event (named `event` where the API names its events); false when the socket's buffer
   * is full and the caller should wait for drained().
   */
  write(data: unknown, event?: string): boolean {
    const name = event ? `event: ${event}\n` : '';
    this.pending += `${name}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    const socket = this.res.socket;
    return !socket || !socket.writableNeedDrain;
  }

  /** Resolves when the socket can take more (or is gone). */
  drained(): Promise<void> {
    const socket = this.res.socket;
    if (this.res.destroyed || !socket || !socket.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  /** Sends what is queued and (unless the API has its own last event) `data: [DONE]`, and ends the response. */
  end(done = true): void {
    const rest = this.pending;
    this.pending = '';
    if (!this.res.destroyed) this.res.end(done ? `${rest}data: [DONE]\n\n` : rest);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const text = this.pending;
    this.pending = '';
    if (text === '' || this.res.destroyed || this.res.writableEnded) return;
    const res = this.res;
    const socket = res.socket;
    // The response's own write frames a chunk as four socket writes (one writev); with the head sent and
    // nothing buffered in the response, the frame goes to the socket as one string instead.
    if (socket && res.headersSent && res.chunkedEncoding && res.writableLength === 0) {
      socket.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
    } else {
      res.write(text);
    }
  };
}
