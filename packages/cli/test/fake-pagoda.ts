// A stand-in for the Pagoda server's management and OpenAI routes, for testing the CLI's requests
// and output before (and apart from) the real server: it records requests and answers canned shapes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface Recorded {
  method: string;
  path: string;
  body: unknown;
  authorization: string | undefined;
}

export interface FakePagoda {
  url: string;
  requests: Recorded[];
  /** Answers for GET /v1/models/{uid}/progress, served in order (the last repeats). */
  progress: unknown[];
  /** What POST /api/plan answers: [status, body]. */
  plan: [number, unknown];
  models: unknown[];
  registrations: unknown[];
  workers: unknown[];
  devices: unknown[];
  /** When set, every request must carry this bearer key. */
  apiKey?: string;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const error = (res: ServerResponse, status: number, message: string) =>
  json(res, status, {
    error: { message, type: 'invalid_request_error', param: null, code: status },
  });

export async function startFakePagoda(): Promise<FakePagoda> {
  const fake: Omit<FakePagoda, 'url' | 'close'> = {
    requests: [],
    progress: [],
    plan: [200, {}],
    models: [],
    registrations: [],
    workers: [],
    devices: [],
  };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = await readBody(req);
    fake.requests.push({
      method: req.method ?? '',
      path,
      body,
      authorization: req.headers.authorization,
    });
    if (fake.apiKey && req.headers.authorization !== `Bearer ${fake.apiKey}`)
      return error(res, 401, 'this route needs an admin API key');
    const route = `${req.method} ${path}`;
    let m: RegExpExecArray | null;
    if (route === 'POST /v1/models')
      return json(res, 200, { model_uid: (body as { model_uid?: string }).model_uid ?? 'model-1' });
    if (route === 'GET /v1/models') return json(res, 200, { object: 'list', data: fake.models });
    if ((m = /^GET \/v1\/models\/([^/]+)\/progress$/.exec(route))) {
      if (fake.progress.length === 0) return error(res, 404, `model '${m[1]}' is not launched`);
      return json(res, 200, fake.progress.length > 1 ? fake.progress.shift() : fake.progress[0]);
    }
    if ((m = /^DELETE \/v1\/models\/([^/]+)$/.exec(route))) {
      return m[1] === 'missing'
        ? error(res, 404, `model 'missing' is not launched; see GET /v1/models`)
        : json(res, 200, {});
    }
    if (/^POST \/v1\/model_registrations\/(LLM|embedding|rerank)$/.test(route)) {
      const name = (body as { model_name?: string }).model_name;
      return name === 'bad'
        ? json(res, 400, { detail: 'model_path: /nowhere does not exist' })
        : json(res, 200, {});
    }
    if (/^GET \/v1\/model_registrations\/(LLM|embedding|rerank)$/.test(route))
      return json(res, 200, fake.registrations);
    if ((m = /^PATCH \/v1\/model_registrations\/LLM\/([^/]+)$/.exec(route)))
      return json(res, 200, { model_name: m[1], updated: true, launched_as: [m[1]] });
    if (/^DELETE \/v1\/model_registrations\/(LLM|embedding|rerank)\/[^/]+$/.test(route)) return json(res, 200, {});
    if (route === 'POST /api/plan') return json(res, fake.plan[0], fake.plan[1]);
    if (route === 'GET /v1/workers') return json(res, 200, fake.workers);
    if (route === 'GET /v1/cluster/devices') return json(res, 200, fake.devices);
    if (route === 'POST /v1/chat/completions') {
      const b = body as { stream?: boolean; messages: Array<{ content: string }> };
      const words = ['Hello', ' from', ' ', b.messages.at(-1)!.content];
      if (!b.stream)
        return json(res, 200, {
          choices: [{ message: { role: 'assistant', content: words.join('') } }],
        });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const w of words)
        res.write(
          `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: w } }] })}\n\n`,
        );
      return res.end('data: [DONE]\n\n');
    }
    return error(res, 404, `no route for ${route}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return Object.assign(fake, {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
