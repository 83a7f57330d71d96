// What keeps replicas in rotation through the proxy, against stand-in runners: a client that gives up
// before the first byte cancels the runner's request and benches nobody; the runner receives the very
// bytes the client sent (no re-serialization, so 1e309 stays 1e309) and 100,000-deep nesting is a 400,
// not a 500; kept-alive sockets serve hundreds of requests with no listener pile-up, and a runner that
// dies mid-request on a reused socket is a 502, not a silent replay on the next replica.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendError, HttpError } from '../src/http_error.ts';
import { PlatformMetrics } from '../src/metrics.ts';
import { proxyHandler, relay } from '../src/proxy.ts';
import { RouteTable } from '../src/route_table.ts';

/** A stand-in runner: records each body's bytes, then does what `answer` says with the response. */
function standIn(answer: (body: Buffer, res: import('node:http').ServerResponse) => void) {
  const state = { bodies: [] as Buffer[], cancelled: 0 };
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      state.bodies.push(body);
      res.once('close', () => {
        if (!res.writableFinished) state.cancelled += 1;
      });
      answer(body, res);
    });
  });
  return { server, state };
}

/** Answers after 300 ms (a long prefill), then streams until the client leaves. */
const slowAnswer = (_body: Buffer, res: import('node:http').ServerResponse) => {
  const timer = setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const tick = setInterval(() => res.write('data: {"token":"x"}\n\n'), 10);
    res.once('close', () => clearInterval(tick));
  }, 300);
  res.once('close', () => clearTimeout(timer));
};

/** Echoes the body it received; a body asking for "crash" kills the connection instead. */
const echoAnswer = (body: Buffer, res: import('node:http').ServerResponse) => {
  if (body.includes('"crash"')) {
    res.socket?.destroy();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  res.end(body);
};

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const slow = [standIn(slowAnswer), standIn(slowAnswer)];
/** The runner of a model whose limit lookup takes 200 ms (a database query under load, say). */
const late = standIn(slowAnswer);
const echo = [standIn(echoAnswer), standIn(echoAnswer)];
let proxy: Server;
let proxyUrl: string;
const table = new RouteTable();
const metrics = new PlatformMetrics();

beforeAll(async () => {
  table.replace(
    [
      { replicaId: 'slow-a', modelUid: 'slow', url: await listen(slow[0]!.server) },
      { replicaId: 'slow-b', modelUid: 'slow', url: await listen(slow[1]!.server) },
      { replicaId: 'echo-a', modelUid: 'echo', url: await listen(echo[0]!.server) },
      { replicaId: 'echo-b', modelUid: 'echo', url: await listen(echo[1]!.server) },
      { replicaId: 'late-a', modelUid: 'late', url: await listen(late.server) },
    ],
    new Map([
      ['slow', null],
      ['echo', null],
      ['late', null],
    ]),
  );
  const app = express();
  app.post('/v1/completions', proxyHandler('/v1/completions', { table, metrics, log: pino({ level: 'silent' }), limitOf: async (uid) => {
    if (uid === 'late') await new Promise((r) => setTimeout(r, 200));
    return table.limitOf(uid);
  } }));
  app.use((err: Error & { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    sendError(res, err instanceof HttpError ? err : new HttpError(err.status ?? 500, err.message));
  });
  proxy = createServer(app);
  proxyUrl = await listen(proxy);
});

afterAll(async () => {
  for (const s of [proxy, late.server, ...slow.map((r) => r.server), ...echo.map((r) => r.server)]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const post = (body: string, signal?: AbortSignal) =>
  fetch(`${proxyUrl}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });

const routed = (model: string, status: number) => {
  const m = new RegExp(`^pagoda_requests_routed_total\\{model="${model}",status="${status}"\\} (\\d+)$`, 'm').exec(metrics.render(new Map(), new Map()));
  return m ? Number(m[1]) : 0;
};

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('clients that give up early', () => {
  it('20 streams aborted before the first byte cancel their runner requests and bench no replica', async () => {
    // a warm client first: its first fetch loads undici
    await (await post(JSON.stringify({ model: 'echo', prompt: 'warm' }))).arrayBuffer();
    const abort = new AbortController();
    const requests = Array.from({ length: 20 }, () =>
      post(JSON.stringify({ model: 'slow', prompt: 'x', stream: true }), abort.signal).catch(() => null),
    );
    // give up once the runners hold all 20 (they answer nothing for 300 ms): before the first byte
    await waitUntil(() => slow[0]!.state.bodies.length + slow[1]!.state.bodies.length === 20);
    abort.abort();
    await Promise.all(requests);
    await waitUntil(() => slow[0]!.state.cancelled + slow[1]!.state.cancelled === 20);
    await waitUntil(() => routed('slow', 499) === 20);
    expect(routed('slow', 502)).toBe(0);
    expect(table.modelLoad('slow')).toBe(0);
    // Both replicas still take requests: the next one is served, not 503 "failed recently".
    const stop = new AbortController();
    const next = await post(JSON.stringify({ model: 'slow', prompt: 'x', stream: true }), stop.signal);
    expect(next.status).toBe(200);
    stop.abort();
    expect(table.pick('slow', new Set(['slow-a']))?.replicaId).toBe('slow-b');
    expect(table.pick('slow', new Set(['slow-b']))?.replicaId).toBe('slow-a');
  });

  it('a client that leaves while the proxy looks up the model is never forwarded (it would run to max_tokens)', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    await post(JSON.stringify({ model: 'late', prompt: 'x', stream: true }), abort.signal).catch(() => null);
    await new Promise((r) => setTimeout(r, 500));
    expect(late.state.bodies.length).toBe(0);
    expect(table.modelLoad('late')).toBe(0);
    await waitUntil(() => routed('late', 499) === 1);
  });

  it('a client that left while the proxy was still routing never reaches a runner', async () => {
    // The body arrives in two writes; the client leaves before the second, so the proxy never routes it.
    const before = slow[0]!.state.bodies.length + slow[1]!.state.bodies.length;
    const url = new URL(`${proxyUrl}/v1/completions`);
    const body = JSON.stringify({ model: 'slow', prompt: 'x', stream: true });
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } });
    req.on('error', () => {});
    req.write(body.slice(0, 10));
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(slow[0]!.state.bodies.length + slow[1]!.state.bodies.length).toBe(before);
    expect(table.modelLoad('slow')).toBe(0);
  });
});

describe('the body reaches the runner as sent', () => {
  it('forwards the exact bytes: numbers beyond float64 stay as written, key order and spacing too', async () => {
    const body = '{ "prompt":"x",  "max_tokens": -1e309, "temperature": 1E400,"model" : "echo" }';
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
  });

  it('routes by the last "model" when it is repeated, as the runner parsing the same bytes would', async () => {
    const body = '{"model":"nope","model":"ech\\u006f","prompt":"x"}';
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
  });

  it('answers 100,000-deep nesting with a 400 in the error shape, not a 500', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    for (const body of [`{"model":"echo","prompt":${deep}}`, `{"prompt":${deep},"model":"echo"}`]) {
      const res = await post(body);
      expect(res.status).toBe(400);
      const json = (await res.json()) as { error: { message: string; type: string } };
      expect(json.error.message).toMatch(/nested deeper than 256 levels/);
      expect(json.error.message).not.toMatch(/stack|\.ts|node:/);
    }
    expect(echo[0]!.state.bodies.some((b) => b.length > 100_000)).toBe(false);
    expect(echo[1]!.state.bodies.some((b) => b.length > 100_000)).toBe(false);
  });

  it.each([
    ['not JSON', 'model=echo', /must be a JSON object/],
    ['a JSON array', '["model","echo"]', /must be a JSON object/],
    ['an unclosed string', '{"model":"echo', /not closed/],
    ['a number for model', '{"model":7}', /needs 'model'/],
    ['no model', '{"prompt":"x"}', /needs 'model'/],
    ['text after the object', '{"model":"echo"} {}', /after the object/],
    ['an empty body', '', /must be a JSON object/],
  ])('answers %s with a 400 that says what is wrong', async (_what, body, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  });
});

describe('kept-alive sockets to runners', () => {
  it('serve 300 requests with no MaxListenersExceededWarning and no failure', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 300; i++) {
        const res = await post(JSON.stringify({ model: 'echo', prompt: `p${i}` }));
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      await new Promise((r) => setTimeout(r, 50)); // warnings are emitted on the next tick
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
  });

  it('a runner that dies mid-request on a reused socket is a 502, not a replay on the other replica', async () => {
    // warm both replicas' sockets so the next request rides a kept-alive one
    for (let i = 0; i < 4; i++) await (await post(JSON.stringify({ model: 'echo', prompt: 'warm' }))).arrayBuffer();
    const seen = echo[0]!.state.bodies.length + echo[1]!.state.bodies.length;
    const res = await post(JSON.stringify({ model: 'echo', prompt: 'crash' }));
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/failed mid-request/);
    // it reached exactly one runner
    expect(echo[0]!.state.bodies.length + echo[1]!.state.bodies.length).toBe(seen + 1);
  });
});

describe('relaying to a client that is gone', () => {
  it('settles as client-gone, freeing the runner response, when the client left before it was read', async () => {
    // the client side: a response whose client has already disconnected
    const front = createServer((req) => req.resume());
    const url = await listen(front);
    const handed = new Promise<ServerResponse>((resolve) => front.once('request', (_req, res: ServerResponse) => resolve(res)));
    const client = request(url, { method: 'POST' });
    client.on('error', () => {});
    client.end('x');
    const res = await handed;
    client.destroy();
    await once(res, 'close');
    // the runner side: a whole response, already received and waiting to be read
    const upstream = await new Promise<IncomingMessage>((resolve) => {
      const r = request(new URL('/v1/completions', table.endpoints('echo')[0]!.url), { method: 'POST' }, resolve);
      r.end(JSON.stringify({ model: 'echo', prompt: 'y'.repeat(200_000) }));
    });
    await new Promise((r) => setTimeout(r, 100));
    const outcome = await Promise.race([
      relay(upstream, res as unknown as express.Response),
      new Promise((r) => setTimeout(() => r('still waiting after 3 s'), 3_000)),
    ]);
    expect(outcome).toBe('client-gone');
    expect(upstream.destroyed).toBe(true);
    front.closeAllConnections();
    await new Promise((r) => front.close(r));
  });
});
