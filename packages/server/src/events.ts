// The live feed behind GET /api/events (WebSocket): replica status and progress, runner log lines,
// worker changes and periodic metrics, fanned out to every connected dashboard.
import type { IncomingMessage, Server } from 'node:http';
import type { PlatformEvent, PlatformEventMessage } from '@pagoda/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorBody } from '@pagoda/protocol';

export type { PlatformEvent };

const STATUS_TEXT = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' } as const;
const REFUSALS = {
  401: ['missing or unknown API key: send Authorization: Bearer <key> or ?api_key=', 'missing_api_key'],
  403: ['/api/events needs an admin key', 'admin_key_required'],
  404: ['WebSocket upgrades are served on /api/events only', 'route_not_found'],
  503: ['the server cannot check keys right now; retry shortly', 'service_unavailable'],
} as const;

/** A refused upgrade as raw HTTP, its body in the API's error shape like every other refusal. */
function refusal(status: keyof typeof REFUSALS): string {
  const [message, code] = REFUSALS[status];
  const body = JSON.stringify(errorBody(message, { status, code }));
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

const stamp = (event: PlatformEvent): string => JSON.stringify({ ...event, at: new Date().toISOString() } satisfies PlatformEventMessage);

export class EventHub {
  private readonly clients = new Set<WebSocket>();
  /** Listeners whose greeting is still being gathered, with what was published meanwhile. */
  private readonly greeting = new Map<WebSocket, string[]>();
  private wss: WebSocketServer | null = null;

  /** A listener with more than `maxBufferedBytes` unsent is dropped (a dashboard reconnects) rather than buffered without bound. */
  constructor(private readonly maxBufferedBytes = 8 * 2 ** 20) {}

  /**
   * Accepts upgrades on /api/events when `admit` answers 200; otherwise refuses with its status (401 no
   * or unknown key, 403 a key that may not watch), or 503 when the check itself fails. `greet`, when
   * given, is sent to each new listener alone as its first message (the figures as they are now, so a
   * dashboard that connects or reconnects need not wait for the next periodic frame).
   */
  attach(
    http: Server,
    admit: (req: IncomingMessage) => Promise<200 | 401 | 403>,
    greet?: () => Promise<PlatformEvent>,
  ): void {
    this.wss = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => {
      // Node's HTTP server hands an upgrade's socket over with no 'error' listener: a client that resets it while
      // its key is checked or its refusal written (a dashboard tab closing) would throw ECONNRESET out of the
      // process. Until ws takes it over, such an error just ends the socket.
      socket.on('error', () => socket.destroy());
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/api/events') {
        socket.end(refusal(404));
        return;
      }
      void admit(req)
        .catch(() => 503 as const)
        .then((status) => {
          if (status !== 200) {
            socket.end(refusal(status));
            return;
          }
          this.wss!.handleUpgrade(req, socket, head, (ws) => {
            ws.on('close', () => this.forget(ws));
            ws.on('error', () => this.forget(ws));
            if (!greet) {
              this.clients.add(ws);
              return;
            }
            // Events published while the greeting is gathered wait for it: it always comes first.
            this.greeting.set(ws, []);
            void greet()
              .then((event) => stamp(event), () => null)
              .then((first) => {
                const held = this.greeting.get(ws);
                this.greeting.delete(ws);
                if (!held || ws.readyState !== ws.OPEN) return;
                if (first) ws.send(first);
                for (const text of held) ws.send(text);
                this.clients.add(ws);
              });
          });
        });
    });
  }

  get listeners(): number {
    return this.clients.size + this.greeting.size;
  }

  private forget(ws: WebSocket): void {
    this.clients.delete(ws);
    this.greeting.delete(ws);
  }

  publish(event: PlatformEvent): void {
    if (this.clients.size === 0 && this.greeting.size === 0) return;
    const text = stamp(event);
    for (const held of this.greeting.values()) held.push(text);
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
    for (const ws of [...this.clients, ...this.greeting.keys()]) ws.terminate();
    this.greeting.clear();
    this.wss?.close();
  }
}
