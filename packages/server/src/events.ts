// The live feed behind GET /api/events (WebSocket): replica status and progress, runner log lines,
// worker changes and periodic metrics, fanned out to every connected dashboard.
import type { IncomingMessage, Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export type PlatformEvent =
  | { type: 'status'; model_uid: string; replica_id: string | null; status: string; last_error?: string | null }
  | { type: 'progress'; model_uid: string; replica_id: string; progress: number; phase: string | null }
  | { type: 'logs'; model_uid: string; replica_id: string; lines: string[] }
  | { type: 'worker'; worker_id: string; status: string }
  | { type: 'metrics'; data: Record<string, unknown> };

const STATUS_TEXT = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' } as const;

export class EventHub {
  private readonly clients = new Set<WebSocket>();
  private wss: WebSocketServer | null = null;

  /** A listener with more than `maxBufferedBytes` unsent is dropped (a dashboard reconnects) rather than buffered without bound. */
  constructor(private readonly maxBufferedBytes = 8 * 2 ** 20) {}

  /**
   * Accepts upgrades on /api/events when `admit` answers 200; otherwise refuses with its status (401 no
   * or unknown key, 403 a key that may not watch), or 503 when the check itself fails.
   */
  attach(http: Server, admit: (req: IncomingMessage) => Promise<200 | 401 | 403>): void {
    this.wss = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/api/events') {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      void admit(req)
        .catch(() => 503 as const)
        .then((status) => {
          if (status !== 200) {
            socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n\r\n`);
            return;
          }
          this.wss!.handleUpgrade(req, socket, head, (ws) => {
            this.clients.add(ws);
            ws.on('close', () => this.clients.delete(ws));
            ws.on('error', () => this.clients.delete(ws));
          });
        });
    });
  }

  get listeners(): number {
    return this.clients.size;
  }

  publish(event: PlatformEvent): void {
    if (this.clients.size === 0) return;
    const text = JSON.stringify({ ...event, at: new Date().toISOString() });
    for (const ws of this.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > this.maxBufferedBytes) {
        this.clients.delete(ws);
        ws.terminate();
        continue;
      }
      ws.send(text);
    }
  }

  close(): void {
    for (const ws of this.clients) ws.terminate();
    this.wss?.close();
  }
}
