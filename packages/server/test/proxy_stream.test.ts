// The proxy relays a runner's response at the client's pace: while a client does not read, the runner
// is held back (its writes stall) instead of the proxy buffering the whole response in memory; once
// the client reads again every byte arrives, in order.
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

let runner: ReturnType<typeof startFloodRunner>;
let proxy: Server;
let proxyUrl: string;

beforeAll(async () => {
  runner = startFloodRunner();
  const runnerUrl = await listen(runner.server);
  const table = new RouteTable();
  table.replace([{ replicaId: 'r0', modelUid: 'flood', url: runnerUrl }]);
  const app = express();
  app.use(express.json());
  app.post(
    '/v1/completions',
    proxyHandler('/v1/completions', {
      table,
      metrics: new PlatformMetrics(),
      log: pino({ level: 'silent' }),
      limitOf: async () => null,
    }),
  );
  proxy = createServer(app);
  proxyUrl = await listen(proxy);
});

afterAll(async () => {
  for (const s of [proxy, runner.server]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
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
  });
});
