// The OpenAI front door: /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings, /v1/rerank, /score and vLLM's /tokenize and /detokenize forwarded by `model` to the
// least-loaded ready replica, response bytes passed through as they arrive (SSE unbuffered) and at
// the pace the client reads them (back-pressure reaches the runner). A replica that refuses the
// connection is benched and the next one tried; with none left the request fails at once. A replica
// that cuts a response short is benched and the client's connection broken, never ended cleanly.
// Per-model request_limits answer 429. The body's bytes go to the runner as received; only "model" is
// read. A client that leaves (before the first byte too) cancels the runner's request and is no fault
// of the replica's: it stays in rotation.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { clip } from '@pagoda/protocol';
import { mayUse } from './auth.ts';
import { HttpError } from './http-error.ts';
import type { InFlightRequests } from './in-flight.ts';
import { readModelField } from './model-field.ts';
import type { PlatformMetrics } from './metrics.ts';
import type { Endpoint, RouteTable } from './route-table.ts';

export interface ProxyDeps {
  table: RouteTable;
  metrics: PlatformMetrics;
  log: Logger;
  /** request_limits of a model uid, or null for none; undefined when the uid is not launched. */
  limitOf(uid: string): Promise<number | null | undefined>;
  /** Requests a client named with request_id (Xinference), abortable by that id. */
  inFlight?: InFlightRequests;
}

/** The replica could not be reached: nothing was sent, so the next replica may take the request. */
class ConnectError extends Error {}
/** The client left before the runner answered: no fault of the replica's. */
class ClientGoneError extends Error {}

/** The client's connection is gone (closed before the response finished). */
function clientLeft(res: Response): boolean {
  return res.destroyed && !res.writableFinished;
}

function forward(e: Endpoint, path: string, body: Buffer, req: Request, res: Response): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (clientLeft(res)) {
      reject(new ClientGoneError('the client closed the request'));
      return;
    }
    const url = new URL(path, e.url);
    const upstream = httpRequest(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': body.length, accept: req.headers.accept ?? '*/*', ...(e.secret ? { authorization: `Bearer ${e.secret}` } : {}) },
    });
    // A kept-alive socket is connected already and never emits 'connect' again: only a new one is
    // watched, so reused sockets gather no listeners and their failures are not taken for refusals.
    let connected = false;
    upstream.once('socket', (s) => {
      if (s.connecting) s.once('connect', () => (connected = true));
      else connected = true;
    });
    upstream.once('response', resolve);
    upstream.once('error', (err) => {
      if (clientLeft(res)) reject(new ClientGoneError(err.message));
      else if (!connected) reject(new ConnectError(err.message));
      else reject(err);
    });
    // The client went away: stop the upstream request so the engine cancels it.
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  });
}

/** How a relayed response ended: whole, cut off by the runner, or abandoned by the client. */
export type RelayOutcome = 'complete' | 'upstream-failed' | 'client-gone';

/**
 * Copies the runner's response to the client as it arrives, pausing the runner's stream while the
 * client's socket is full, so a slow reader holds back the runner instead of filling our memory.
 */
export function relay(upstream: IncomingMessage, res: Response): Promise<RelayOutcome> {
  return new Promise<RelayOutcome>((resolve) => {
    let clientGone = false;
    let settled = false;
    const resume = () => upstream.resume();
    const onClientClose = () => {
      clientGone = !res.writableFinished;
      // Nobody will read the rest: a paused (or wholly buffered) response would otherwise hold its
      // socket and this request's place in the route table forever.
      if (clientGone) upstream.destroy();
    };
    const settle = (outcome: RelayOutcome) => {
      if (settled) return;
      settled = true;
      res.off('drain', resume);
      res.off('close', onClientClose);
      resolve(outcome);
    };
    upstream.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) upstream.pause();
    });
    res.on('drain', resume);
    res.once('close', onClientClose);
    upstream.once('end', () => settle('complete'));
    const cut = () => settle(clientGone || clientLeft(res) ? 'client-gone' : upstream.complete ? 'complete' : 'upstream-failed');
    upstream.once('error', cut);
    upstream.once('close', cut);
    if (clientLeft(res)) onClientClose();
  });
}

/** The inference routes the proxy forwards, each to the same path on the runner. */
export type ProxiedPath = '/v1/chat/completions' | '/v1/completions' | '/v1/responses' | '/v1/embeddings' | '/v1/rerank' | '/score' | '/tokenize' | '/detokenize';

// Every path mounted on the proxy, aliases included (/rerank and /v2/rerank go to /v1/rerank, /v1/score to /score).
const PROXIED_PATHS: ReadonlySet<string> = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/responses',
  '/v1/embeddings',
  '/v1/rerank',
  '/rerank',
  '/v2/rerank',
  '/score',
  '/v1/score',
  '/tokenize',
  '/detokenize',
]);

/** Whether express routes `path` to the proxy (its routing ignores case and a trailing slash). */
export function isProxiedPath(path: string): boolean {
  return PROXIED_PATHS.has(path.toLowerCase().replace(/\/+$/, ''));
}

/** The largest request body the proxy takes (the management API's limit too). */
export const PROXY_BODY_LIMIT = '8mb';

/**
 * The route's middleware: the body is read as bytes (never parsed and re-serialized, so what the
 * runner validates is exactly what the client sent), then routed by its "model" field.
 */
export function proxyHandler(path: ProxiedPath, deps: ProxyDeps) {
  return [express.raw({ type: () => true, limit: PROXY_BODY_LIMIT }), routeRequest(path, deps)];
}

function routeRequest(path: ProxiedPath, deps: ProxyDeps) {
  return async (req: Request, res: Response) => {
    const payload: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const uid = readModelField(payload);
    if (!mayUse(res, uid)) throw new HttpError(403, `this key may not use model '${clip(uid)}'; ask for a key that names it`, 'model', {}, 'model_not_allowed', { params: { model: uid } });
    const limit = await deps.limitOf(uid);
    if (limit === undefined) throw new HttpError(404, `model '${uid}' is not launched; GET /v1/models lists the ready ones`, 'model', {}, 'model_not_found', { params: { model: uid } });
    if (limit !== null && deps.table.modelLoad(uid) >= limit) {
      deps.metrics.routed(uid, 429);
      throw new HttpError(429, `model '${uid}' is at its request_limits (${limit} requests in flight); retry shortly`, null, {}, 'rate_limited', { params: { model: uid, limit } });
    }
    // Xinference's request_id names a request for abort_request; the runner's schema has no such field,
    // so only a body that mentions it is parsed and sent on without it (others go byte for byte).
    let forwarded = payload;
    if (deps.inFlight && payload.includes('"request_id"')) {
      const { request_id: requestId, ...rest } = JSON.parse(payload.toString('utf8')) as { request_id?: unknown };
      if (requestId !== undefined) {
        if (typeof requestId !== 'string' || requestId.length === 0) throw new HttpError(400, 'request_id must be a non-empty string', 'request_id');
        // Aborting cuts the client's response; the runner then cancels the request as for any client that left.
        const release = deps.inFlight.register(uid, requestId, () => res.destroy());
        if (!release) throw new HttpError(409, `a request with request_id '${requestId}' is already running on '${uid}'`, 'request_id');
        res.once('close', release);
        forwarded = Buffer.from(JSON.stringify(rest));
      }
    }
    const tried = new Set<string>();
    const started = process.hrtime.bigint();
    for (;;) {
      const e = deps.table.pick(uid, tried);
      if (!e) {
        deps.metrics.routed(uid, 503);
        const known = deps.table.endpoints(uid).length;
        const why =
          tried.size > 0
            ? `its ${tried.size} replica${tried.size > 1 ? 's' : ''} failed to answer and ${tried.size > 1 ? 'are' : 'is'} out of rotation`
            : known > 0
              ? `its ${known} replica${known > 1 ? 's' : ''} failed recently and ${known > 1 ? 'are' : 'is'} out of rotation for a few seconds; retry shortly`
              : 'no replica is ready yet (GET /v1/models/{uid}/progress shows the launch)';
        throw new HttpError(503, `model '${uid}' cannot take requests: ${why}`, null, {}, 'model_unavailable', { params: { model: uid } });
      }
      tried.add(e.replicaId);
      const end = deps.table.begin(e);
      let upstream: IncomingMessage;
      try {
        upstream = await forward(e, path, forwarded, req, res);
      } catch (err) {
        end();
        if (err instanceof ClientGoneError) {
          // The client gave up before the first byte: the replica did nothing wrong.
          deps.metrics.routed(uid, 499);
          return;
        }
        deps.table.bench(e.replicaId);
        deps.log.warn({ replica: e.replicaId, model: uid, err: (err as Error).message }, 'replica failed; out of rotation');
        if (err instanceof ConnectError) continue;
        deps.metrics.routed(uid, 502);
        if (!res.headersSent) throw new HttpError(502, `replica ${e.replicaId} of '${uid}' failed mid-request (${(err as Error).message}); it is out of rotation, retry`, null, {}, 'upstream_failed', { params: { model: uid } });
        res.destroy();
        return;
      }
      res.status(upstream.statusCode ?? 502);
      for (const h of ['content-type', 'cache-control', 'x-request-id']) {
        const v = upstream.headers[h];
        if (v !== undefined) res.setHeader(h, v);
      }
      res.setHeader('x-pagoda-replica', e.replicaId);
      res.flushHeaders();
      const outcome = await relay(upstream, res);
      end();
      if (outcome === 'upstream-failed') {
        // Break the client's connection too: a cleanly ended response would pass for a whole one.
        deps.table.bench(e.replicaId);
        deps.log.warn({ replica: e.replicaId, model: uid }, 'replica cut its response short; out of rotation');
        deps.metrics.routed(uid, 502);
        res.destroy();
        return;
      }
      if (outcome === 'client-gone') {
        deps.metrics.routed(uid, 499);
        return;
      }
      res.end();
      deps.metrics.routed(uid, upstream.statusCode ?? 502);
      deps.metrics.latency(Number(process.hrtime.bigint() - started) / 1e9);
      return;
    }
  };
}
