// How the proxy relays a runner's stream, against stand-in runners: at the client's pace (a client
// that does not read holds the runner back instead of the proxy buffering the whole response; once it
// reads, every byte arrives in order); a runner that cuts its response short breaks the client's
// connection rather than ending it cleanly, and is taken out of rotation; a client that goes away
// cancels the runner's request; request_limits answer 429. Each outcome is counted in the
// routed-requests metric.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformMetrics } from '../src/metrics.ts';
import { proxyHandler } from '../src/proxy.ts';
import { RouteTable } from '../src/route_table.ts';

const TOTAL = 96 * 2 ** 20;
const CHUNK = 64 * 1024;

/** A stand-in runner that streams TOTAL bytes (byte i is i mod 251), honouring its own back-pressure. */
function startFloodRunner() {
  const state = { written: 0, stalls: 0 };
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = () => {
      while (state.written < TOTAL) {
        const n = Math.min(CHUNK, TOTAL - state.written);
        const chunk = Buffer.alloc(n);
        for (let i = 0; i < n; i++) chunk[i] = (state.written + i) % 251;
        state.written += n;
        if (!res.write(chunk)) {
          state.stalls += 1;
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  return { server, state };
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A stand-in runner that sends a first SSE event, then drops the connection mid-response. */
function startDyingRunner(): Server {
  return createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"partial":true}\n\n');
    setTimeout(() => res.socket?.destroy(), 50);
  });
}

/** A stand-in runner that streams until its client goes away, and records that it noticed. */
function startEndlessRunner() {
  const state = { cancelled: false };
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const timer = setInterval(() => res.write('data: {"token":"x"}\n\n'), 10);
    res.once('close', () => {
      clearInterval(timer);
      state.cancelled = !res.writableFinished;
    });
  });
  return { server, state };
}

let runner: ReturnType<typeof startFloodRunner>;
let endless: ReturnType<typeof startEndlessRunner>;
let limited: ReturnType<typeof startEndlessRunner>;
let dying: Server;
let proxy: Server;
let proxyUrl: string;
let table: RouteTable;
const metrics = new PlatformMetrics();

beforeAll(async () => {
  runner = startFloodRunner();
  endless = startEndlessRunner();
  limited = startEndlessRunner();
  dying = startDyingRunner();
  table = new RouteTable();
  table.replace([
    { replicaId: 'r-flood', modelUid: 'flood', url: await listen(runner.server) },
    { replicaId: 'r-dying', modelUid: 'dying', url: await listen(dying) },
    { replicaId: 'r-endless', modelUid: 'endless', url: await listen(endless.server) },
    { replicaId: 'r-limited', modelUid: 'limited', url: await listen(limited.server) },
  ], new Map([['flood', null], ['dying', null], ['endless', null], ['limited', 1]]));
  const app = express();
  app.post(
    '/v1/completions',
    proxyHandler('/v1/completions', {
      table,
      metrics,
      log: pino({ level: 'silent' }),
      limitOf: async (uid) => table.limitOf(uid),
    }),
  );
  app.use(
    (
      err: Error & { status?: number },
      _req: express.Request,
      res: express.Response,
      _next: express.NextFunction,
    ) => {
      res.status(err.status ?? 500).json({ error: { message: err.message } });
    },
  );
  proxy = createServer(app);
  proxyUrl = await listen(proxy);
});

afterAll(async () => {
  for (const s of [proxy, runner.server, endless.server, limited.server, dying]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const routed = (model: string, status: number) => {
  const m = new RegExp(
    `^pagoda_requests_routed_total\\{model="${model}",status="${status}"\\} (\\d+)$`,
    'm',
  ).exec(metrics.render(new Map(), new Map()));
  return m ? Number(m[1]) : 0;
};

const post = (model: string, signal?: AbortSignal) =>
  fetch(`${proxyUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'x', stream: true }),
    signal,
  });

describe('proxy back-pressure', () => {
  it('holds the runner back while the client does not read, then delivers every byte', async () => {
    const body = JSON.stringify({ model: 'flood', prompt: 'x' });
    const req = request(`${proxyUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.end(body);
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    expect(res.statusCode).toBe(200);
    res.pause();

    // Wait until the runner's writes stop moving: the socket buffers between it and the client are full.
    let last = -1;
    while (runner.state.written !== last) {
      last = runner.state.written;
      await new Promise((r) => setTimeout(r, 300));
    }
    // Without back-pressure the proxy reads the whole response into memory and the runner finishes.
    expect(runner.state.written).toBeLessThan(TOTAL / 4);
    expect(runner.state.stalls).toBeGreaterThan(0);

    let received = 0;
    let inOrder = true;
    res.on('data', (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i += 4099)
        if (chunk[i] !== (received + i) % 251) inOrder = false;
      received += chunk.length;
    });
    res.resume();
    await once(res, 'end');
    expect(received).toBe(TOTAL);
    expect(inOrder).toBe(true);
    expect(routed('flood', 200)).toBe(1);
  });
});

describe('proxy stream endings', () => {
  it('breaks the client connection when the runner cuts its response short, and benches the runner', async () => {
    const res = await post('dying');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-pagoda-replica')).toBe('r-dying');
    // The client must see a failure, not a cleanly ended stream that passes for a whole one.
    await expect(res.text()).rejects.toThrow();
    expect(routed('dying', 502)).toBe(1);
    expect(routed('dying', 200)).toBe(0);
    const next = await post('dying');
    expect(next.status).toBe(503);
    expect(((await next.json()) as { error: { message: string } }).error.message).toMatch(
      /out of rotation/,
    );
  });

  it('cancels the runner request when the client goes away mid-stream', async () => {
    const abort = new AbortController();
    const res = await post('endless', abort.signal);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toMatch(/^data: /);
    abort.abort();
    await waitUntil(() => endless.state.cancelled);
    await waitUntil(() => routed('endless', 499) === 1);
    expect(table.modelLoad('endless')).toBe(0);
    expect(table.pick('endless')?.replicaId).toBe('r-endless');
  });
});

describe('proxy request_limits', () => {
  it('answers 429 while a model is at its request_limits, and serves again once a slot frees', async () => {
    const abort = new AbortController();
    const first = await post('limited', abort.signal);
    expect(first.status).toBe(200);
    const reader = first.body!.getReader();
    await reader.read();
    const refused = await post('limited');
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /request_limits \(1 requests in flight\)/,
    );
    expect(routed('limited', 429)).toBe(1);
    abort.abort();
    await waitUntil(() => table.modelLoad('limited') === 0);
    const again = new AbortController();
    const next = await post('limited', again.signal);
    expect(next.status).toBe(200);
    again.abort();
    await waitUntil(() => table.modelLoad('limited') === 0);
  });

  it('answers 404 for a model the table does not know', async () => {
    const res = await post('never-launched');
    expect(res.status).toBe(404);
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
