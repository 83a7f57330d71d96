// GET /api/events as a dashboard uses it: a WebSocket that, while a model launches, carries the
// replica's status changes and progress up to ready, the runner's log lines, and periodic metrics;
// a dashboard that stops reading is dropped instead of buffered without bound.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '../src/events.ts';
import { startServer } from '../src/index.ts';
import {
  startOneWorkerCluster,
  TEMPLATE,
  type Body,
  type OneWorkerCluster,
} from './one-worker-cluster.ts';
import { STORIES, waitFor } from './platform-helpers.ts';

let cluster: OneWorkerCluster;
let ws: WebSocket;
const messages: Body[] = [];

beforeAll(async () => {
  cluster = await startOneWorkerCluster('events', { eventsMetricsMs: 300 });
  ws = new WebSocket(`${cluster.server.url.replace('http', 'ws')}/api/events`);
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
});

afterAll(async () => {
  ws?.close();
  await cluster?.close();
});

const of = (type: string, uid?: string) =>
  messages.filter((m) => m.type === type && (uid === undefined || m.model_uid === uid));

describe('/api/events', () => {
  it('streams status and progress up to ready, and the runner log lines, while a model launches', async () => {
    expect(
      (
        await cluster.api('POST', '/v1/model_registrations/LLM', {
          model_name: 'stories',
          model_path: STORIES,
          chat_template: TEMPLATE,
        })
      ).status,
    ).toBe(200);
    const launch = await cluster.api('POST', '/v1/models', {
      model_name: 'stories',
      model_uid: 'tiny',
      gpu_memory_utilization: 0.3,
      max_model_len: 256,
    });
    expect(launch.status, JSON.stringify(launch.json)).toBe(200);
    const replicaId = (
      await cluster.server.platform.db.prisma.replica.findFirstOrThrow({
        where: { instance: { uid: 'tiny' } },
      })
    ).id;

    await waitFor(
      'a ready status event',
      async () =>
        of('status', 'tiny').some((m) => m.replica_id === replicaId && m.status === 'ready'),
      60_000,
      50,
    );
    const statuses = of('status', 'tiny')
      .filter((m) => m.replica_id === replicaId)
      .map((m) => m.status);
    expect(statuses).toContain('loading');
    expect(statuses.indexOf('loading')).toBeLessThan(statuses.indexOf('ready'));
    // The instance's own status (replica_id null) follows its replicas to ready.
    await waitFor(
      'the instance status event',
      async () => of('status', 'tiny').some((m) => m.replica_id === null && m.status === 'ready'),
      10_000,
      50,
    );

    const progress = of('progress', 'tiny').filter((m) => m.replica_id === replicaId);
    const values = progress.map((m) => m.progress);
    expect(values.length).toBeGreaterThanOrEqual(2);
    expect(values.at(-1)).toBe(1);
    expect(values.some((v) => v > 0 && v < 1)).toBe(true);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(progress.at(-1).phase).toBe('ready');
    // Load milestones come from the runner's own log lines, even under a worker that logs at warn.
    const phases = progress.map((m) => m.phase);
    expect(phases).toEqual(expect.arrayContaining(['starting', 'loading', 'warm-up', 'ready']));
    expect(phases.indexOf('loading')).toBeLessThan(phases.indexOf('warm-up'));
    for (const m of messages) expect(Date.parse(m.at)).not.toBeNaN();

    // The runner's own output, forwarded by the worker: its pino lines, and where it serves the model.
    const ready = await waitFor(
      'the runner ready line',
      async () =>
        of('logs', 'tiny')
          .flatMap((m) => m.lines)
          .find((l: string) => l.includes('tiny ready at http://')),
      10_000,
      50,
    );
    expect(ready).toMatch(/^pagoda serve: tiny ready at http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const loaded = of('logs', 'tiny')
      .flatMap((m) => m.lines)
      .find((l: string) => l.includes('model loaded'));
    expect(JSON.parse(loaded)).toMatchObject({
      name: 'runner',
      msg: 'model loaded; ready',
      served: ['tiny'],
    });
    expect(of('logs', 'tiny').every((m) => m.replica_id === replicaId)).toBe(true);
  });

  it('sends metrics messages that count the ready replica and the requests routed', async () => {
    const res = await fetch(`${cluster.server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', prompt: 'Once', max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const frame = await waitFor(
      'a metrics message after the request',
      async () => of('metrics').find((m) => m.data.requests_routed >= 1),
      10_000,
      50,
    );
    expect(frame.data.replicas).toEqual({ ready: 1 });
    expect(frame.data.ready_endpoints).toBe(1);
    expect(frame.data.launches).toEqual({ accepted: 1, refused: 0, invalid: 0 });
    expect(frame.data.queue_depth).toEqual({ w1: 0 });
    expect(frame.data.proxy_latency.count).toBe(1);
    expect(frame.data.proxy_latency.mean_seconds).toBeGreaterThan(0);
  });

  it('tells the dashboard when the model is terminated', async () => {
    const before = messages.length;
    expect((await cluster.api('DELETE', '/v1/models/tiny')).status).toBe(200);
    const frame = await waitFor(
      'a metrics message with no replica',
      async () =>
        messages
          .slice(before)
          .find((m) => m.type === 'metrics' && Object.keys(m.data.replicas).length === 0),
      10_000,
      50,
    );
    expect(frame.data.ready_endpoints).toBe(0);
  });
});

describe('a dashboard that stops reading', () => {
  it('greets a new dashboard with the figures as they are, before anything else', async () => {
    // A server whose periodic metrics frames are an hour apart: a message now can only be the greeting.
    const dataDir = mkdtempSync(join(tmpdir(), 'pagoda-events-greet-'));
    const quiet = await startServer({
      port: 0,
      dataDir,
      databaseUrl: `file:${join(dataDir, 'pagoda.db')}`,
      redisUrl: cluster.redis.url,
      redisPrefix: `greet${Date.now().toString(36)}`,
      logLevel: 'silent',
      eventsMetricsMs: 3_600_000,
    });
    const late = new WebSocket(`${quiet.url.replace('http', 'ws')}/api/events`);
    const first = await new Promise<Body>((resolve, reject) => {
      late.once('message', (data) => resolve(JSON.parse(String(data)) as Body));
      late.once('error', reject);
    });
    late.close();
    await quiet.close();
    rmSync(dataDir, { recursive: true, force: true });
    expect(first.type).toBe('metrics');
    const data = first.data as { replicas: Record<string, number>; queue_depth: Record<string, number> };
    expect(data.replicas).toBeTypeOf('object');
    expect(data.queue_depth).toBeTypeOf('object');
  });

  it('sends the greeting first even while events are being published', async () => {
    const http = createServer();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const url = `ws://127.0.0.1:${(http.address() as { port: number }).port}/api/events`;
    const hub = new EventHub();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    hub.attach(
      http,
      async () => 200,
      async () => {
        await gate; // the greeting takes its time, as a database query can
        return { type: 'metrics', data: { hello: 1 } };
      },
    );
    const ws = new WebSocket(url);
    const got: Body[] = [];
    ws.on('message', (data) => got.push(JSON.parse(String(data)) as Body));
    await new Promise((r) => ws.once('open', r));
    await waitFor('the listener counted', async () => hub.listeners === 1, 2_000, 10);
    hub.publish({ type: 'worker', worker_id: 'w', status: 'lost' }); // while the greeting is gathered
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([]); // held back: the greeting comes first
    release();
    hub.publish({ type: 'worker', worker_id: 'w', status: 'ready' });
    await waitFor('three messages', async () => got.length === 3, 2_000, 10);
    expect(got.map((m) => m.type)).toEqual(['metrics', 'worker', 'worker']);
    expect((got[0]!.data as { hello: number }).hello).toBe(1);
    expect(got.slice(1).map((m) => m.status)).toEqual(['lost', 'ready']);
    ws.close();
    hub.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });

  it('survives a client that resets its upgrade while the key is checked, and serves the next one', async () => {
    const http = createServer();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const port = (http.address() as { port: number }).port;
    const hub = new EventHub();
    let release: (status: 200 | 401) => void = () => {};
    const checks: Promise<200 | 401>[] = [new Promise((r) => (release = r)), Promise.resolve(200)];
    hub.attach(http, () => checks.shift() ?? Promise.resolve(200));
    // The upgrade's socket as the server holds it while the key check is pending.
    const held = new Promise<Socket>((r) => http.once('upgrade', (_req, socket) => r(socket as Socket)));
    const client = connect(port, '127.0.0.1', () =>
      client.write(
        'GET /api/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    client.on('error', () => {});
    const socket = await held;
    // What a reset delivers to the server's side: an ECONNRESET error on the socket. Unheard, emit throws it.
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(() => socket.emit('error', reset)).not.toThrow();
    expect(socket.destroyed).toBe(true);
    client.destroy();
    release(401); // the check ends after the client has gone: nothing is written, nothing thrown
    await new Promise((r) => setTimeout(r, 20));
    const next = new WebSocket(`ws://127.0.0.1:${port}/api/events`);
    await new Promise((resolve, reject) => {
      next.once('open', resolve);
      next.once('error', reject);
    });
    expect(hub.listeners).toBe(1);
    next.close();
    hub.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });

  it('is dropped once its unsent messages pass the limit, while others keep receiving', async () => {
    const http = createServer();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const url = `ws://127.0.0.1:${(http.address() as { port: number }).port}/api/events`;
    const hub = new EventHub(4 * 2 ** 20);
    hub.attach(http, async () => 200);
    const open = (ws: WebSocket) => new Promise((r) => ws.once('open', r));
    const slow = new WebSocket(url);
    const fast = new WebSocket(url);
    await Promise.all([open(slow), open(fast)]);
    await waitFor('both registered', async () => hub.listeners === 2, 2_000, 10);
    slow.pause();
    let received = 0;
    fast.on('message', () => (received += 1));
    const line = 'x'.repeat(16 * 1024);
    const total = 2_000;
    for (let i = 0; i < total; i++) {
      hub.publish({ type: 'logs', model_uid: 'm', replica_id: 'r', lines: [line] });
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(hub.listeners).toBe(1);
    await waitFor(
      'the fast listener to get every message',
      async () => received === total,
      20_000,
      20,
    );
    const closed = new Promise((r) => slow.once('close', r));
    slow.resume();
    await closed;
    fast.close();
    hub.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
});
