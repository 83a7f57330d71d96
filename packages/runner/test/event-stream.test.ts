// The SSE writer over a real HTTP connection: events batched per event-loop turn and framed onto the
// socket by hand must reach a client intact and in order, also when the client stops reading for a while.
import { once } from 'node:events';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, expect, it } from 'vitest';
import { EventStream } from '../src/sse.ts';

let server: Server | null = null;
afterEach(() => {
  server?.close();
  server = null;
});

/** Serves one event stream written by `produce`; returns the port. */
async function serve(produce: (events: EventStream) => Promise<void>): Promise<number> {
  const app = express();
  app.get('/events', async (_req, res) => {
    const events = new EventStream(res);
    await produce(events);
    events.end();
  });
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Reads the whole body; `pauseMs` > 0 stops reading after the first bytes for that long. */
function fetchBody(
  port: number,
  pauseMs = 0,
): Promise<{ headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/events' }, (res) => {
      let body = '';
      let paused = false;
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        body += text;
        if (pauseMs > 0 && !paused) {
          paused = true;
          res.pause();
          setTimeout(() => res.resume(), pauseMs);
        }
      });
      res.on('end', () => resolve({ headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const nextTurn = () => new Promise((r) => setImmediate(r));

it('sends events written over many turns, several per turn, in order and then [DONE]', async () => {
  const sent: string[] = [];
  const port = await serve(async (events) => {
    for (let turn = 0; turn < 50; turn++) {
      for (let k = 0; k < 3; k++) {
        const event = { turn, k, text: 'é ✓ 𝄞' };
        sent.push(`data: ${JSON.stringify(event)}\n\n`);
        events.write(event);
      }
      await nextTurn();
    }
  });
  const { headers, body } = await fetchBody(port);
  expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
  expect(headers['transfer-encoding']).toBe('chunked');
  expect(body).toBe(`${sent.join('')}data: [DONE]\n\n`);
});

it('waits for a client that stops reading, then delivers everything intact', async () => {
  let sawFullBuffer = false;
  const big = 'x'.repeat(16 * 1024);
  const count = 400; // ~6.5 MB: far more than the socket buffers hold while the client pauses
  const port = await serve(async (events) => {
    for (let i = 0; i < count; i++) {
      if (!events.write({ i, big })) {
        sawFullBuffer = true;
        await events.drained();
      }
      await nextTurn();
    }
  });
  const { body } = await fetchBody(port, 300);
  expect(sawFullBuffer).toBe(true);
  const lines = body.split('\n\n').filter((l) => l !== '');
  expect(lines).toHaveLength(count + 1);
  lines.slice(0, count).forEach((line, i) => expect(JSON.parse(line.slice(6))).toEqual({ i, big }));
  expect(lines[count]).toBe('data: [DONE]');
});

it('keeps the connection usable for the next request (keep-alive framing stays valid)', async () => {
  const port = await serve(async (events) => {
    events.write({ a: 1 });
    await nextTurn();
    events.write('plain');
  });
  const { request: req, Agent } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise<string>((resolve, reject) => {
      req({ host: '127.0.0.1', port, path: '/events', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (t: string) => (body += t));
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
  const expected = 'data: {"a":1}\n\ndata: plain\n\ndata: [DONE]\n\n';
  expect(await get()).toBe(expected);
  expect(await get()).toBe(expected); // same socket: a bad chunk frame would break this one
  agent.destroy();
});
