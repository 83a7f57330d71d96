// /api/bench: runs `pagoda bench serve` (the CLI's load generator) against a ready model through this
// server's own proxy, streams its progress (SSE), and keeps every run as an Event row of kind
// 'benchmark' so past runs can be compared.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router, type Request, type Response } from 'express';
import { BenchIdSchema, BenchRequestSchema, type BenchParams, type BenchRun, type BenchSummary } from '@pagoda/protocol';
import { bearer, type Auth } from '../auth.ts';
import { idParam } from '../edge-checks.ts';
import { HttpError, parseBody } from '../http-error.ts';
import type { InstanceParams } from '../launcher.ts';
import type { Platform } from '../platform.ts';

const PAGODA_BIN = fileURLToPath(new URL('../../../../bin/pagoda', import.meta.url));

export { BenchRequestSchema, type BenchParams };

export type { BenchRun };

/** The last "done/total requests" the load generator's progress line shows in `text`. */
export function lastProgress(text: string): { done: number; total: number } | null {
  const all = [...text.matchAll(/(\d+)\/(\d+) requests/g)];
  const m = all.at(-1);
  return m ? { done: Number(m[1]), total: Number(m[2]) } : null;
}

function benchArgs(
  run: BenchRun,
  baseUrl: string,
  tokenizer: string,
  resultDir: string,
  apiKey: string | null,
): string[] {
  const p = run.params;
  return [
    'bench',
    'serve',
    '--base-url',
    baseUrl,
    '--model',
    run.model_uid,
    '--tokenizer',
    tokenizer,
    '--num-prompts',
    String(p.num_prompts),
    '--random-input-len',
    String(p.input_len),
    '--random-output-len',
    String(p.output_len),
    '--request-rate',
    p.request_rate === null ? 'inf' : String(p.request_rate),
    ...(p.max_concurrency === null ? [] : ['--max-concurrency', String(p.max_concurrency)]),
    '--seed',
    String(p.seed),
    '--ignore-eos',
    '--save-result',
    '--result-dir',
    resultDir,
    '--result-filename',
    'result.json',
    ...(apiKey ? ['--api-key', apiKey] : []),
  ];
}

/** This server as the request reached it, so the load goes through the proxy like any client's. */
function selfUrl(req: Request): string {
  const addr = (req.socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const host = addr === '::' || addr === '0.0.0.0' ? '127.0.0.1' : addr;
  return `http://${host.includes(':') ? `[${host}]` : host}:${req.socket.localPort}`;
}

export function benchRoutes(p: Platform, auth: Auth): Router {
  const r = Router();
  const admin = auth.require('admin');
  const live = new Map<string, { run: BenchRun; listeners: Set<Response> }>();

  const save = async (run: BenchRun) => {
    await p.db.prisma.event.updateMany({
      where: { kind: 'benchmark', subject: run.id },
      data: { data: run as never, message: `benchmark ${run.status}` },
    });
  };
  const push = (id: string) => {
    const entry = live.get(id);
    if (!entry) return;
    const text = `data: ${JSON.stringify(entry.run)}\n\n`;
    for (const res of entry.listeners) {
      res.write(text);
      if (entry.run.status !== 'running') res.end();
    }
    if (entry.run.status !== 'running') live.delete(id);
  };
  const stored = async (id: string): Promise<BenchRun> => {
    const fresh = live.get(id)?.run;
    if (fresh) return fresh;
    const row = await p.db.prisma.event.findFirst({ where: { kind: 'benchmark', subject: id } });
    if (!row) throw new HttpError(404, `no benchmark run '${id}'; GET /api/bench lists them`, 'id', {}, 'benchmark_not_found', { params: { id } });
    return interrupted(row.data as unknown as BenchRun);
  };
  // A run recorded as running that this process does not run was cut off by a server restart.
  const interrupted = (run: BenchRun): BenchRun =>
    run.status === 'running' && !live.has(run.id)
      ? { ...run, status: 'failed', error: run.error ?? 'the server restarted during this run' }
      : run;

  r.post('/api/bench', admin, async (req, res) => {
    const params = parseBody(BenchRequestSchema, req.body);
    const row = await p.db.prisma.modelInstance.findUnique({ where: { uid: params.model_uid } });
    if (!row)
      throw new HttpError(
        404,
        `model '${params.model_uid}' is not launched; launch it first`,
        'model_uid',
      );
    if (row.status !== 'ready' && row.status !== 'degraded')
      throw new HttpError(
        409,
        `model '${params.model_uid}' is ${row.status}; wait until it is ready`,
        'model_uid',
      );
    if ([...live.values()].some((e) => e.run.status === 'running'))
      throw new HttpError(
        409,
        'a benchmark is already running; wait for it to finish so the two do not skew each other',
      );
    const tokenizer =
      params.tokenizer_path ?? (row.params as unknown as InstanceParams).source?.model_path;
    if (!tokenizer)
      throw new HttpError(
        400,
        `model '${params.model_uid}' has no local folder on the server; give tokenizer_path, a folder holding its tokenizer.json`,
        'tokenizer_path',
      );

    const run: BenchRun = {
      id: randomUUID(),
      model_uid: params.model_uid,
      params,
      status: 'running',
      done: 0,
      total: params.num_prompts,
      started_at: new Date().toISOString(),
      finished_at: null,
      summary: null,
      error: null,
    };
    await p.db.prisma.event.create({
      data: {
        kind: 'benchmark',
        subject: run.id,
        message: 'benchmark running',
        data: run as never,
      },
    });
    live.set(run.id, { run, listeners: new Set() });

    const dir = mkdtempSync(join(tmpdir(), 'pagoda-bench-'));
    const child = spawn(PAGODA_BIN, benchArgs(run, selfUrl(req), tokenizer, dir, bearer(req)), {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-20_000);
      const prog = lastProgress(stderr);
      if (prog && prog.done !== run.done) {
        Object.assign(run, prog);
        push(run.id);
      }
    });
    let finished = false;
    const finish = async (error: string | null) => {
      if (finished) return;
      finished = true;
      try {
        // Written by `pagoda bench serve --save-result` in this same checkout: a BenchSummary.
        run.summary = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as BenchSummary;
      } catch {
        run.summary = null;
      }
      rmSync(dir, { recursive: true, force: true });
      run.status = run.summary ? 'done' : 'failed';
      run.done = run.summary ? run.total : run.done;
      const tail = stderr
        .split(/[\r\n]+/)
        .filter((l) => l.trim() && !/requests$/.test(l))
        .slice(-3)
        .join(' | ');
      run.error =
        error ??
        (run.summary
          ? Number(run.summary.failed) > 0
            ? tail || null
            : null
          : tail || 'the benchmark ended without a result');
      run.finished_at = new Date().toISOString();
      await save(run).catch((err: Error) =>
        p.log.warn({ err: err.message }, 'benchmark result not stored'),
      );
      push(run.id);
    };
    child.on('error', (err) => void finish(`could not start ${PAGODA_BIN}: ${err.message}`));
    child.on('exit', () => void finish(null));
    res.status(202).json(run);
  });

  r.get('/api/bench', admin, async (_req, res) => {
    const rows = await p.db.prisma.event.findMany({
      where: { kind: 'benchmark' },
      orderBy: { id: 'desc' },
      take: 100,
    });
    res.json(
      rows.map((row) =>
        interrupted(live.get(row.subject ?? '')?.run ?? (row.data as unknown as BenchRun)),
      ),
    );
  });

  r.get('/api/bench/:id', admin, async (req, res) => {
    res.json(await stored(idParam(req, 'id', BenchIdSchema, 'id', 'benchmark id')));
  });

  // Server-sent events: the run now, then each progress step, closed when it ends.
  r.get('/api/bench/:id/stream', admin, async (req, res) => {
    const run = await stored(idParam(req, 'id', BenchIdSchema, 'id', 'benchmark id'));
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    });
    res.write(`data: ${JSON.stringify(run)}\n\n`);
    const entry = live.get(run.id);
    if (!entry) return void res.end();
    entry.listeners.add(res);
    req.on('close', () => entry.listeners.delete(res));
  });

  r.delete('/api/bench/:id', admin, async (req, res) => {
    const id = idParam(req, 'id', BenchIdSchema, 'id', 'benchmark id');
    if (live.has(id)) throw new HttpError(409, `benchmark '${id}' is still running`, 'id');
    const { count } = await p.db.prisma.event.deleteMany({
      where: { kind: 'benchmark', subject: id },
    });
    if (count === 0) throw new HttpError(404, `no benchmark run '${id}'`, 'id', {}, 'benchmark_not_found', { params: { id } });
    res.json({ id, deleted: true });
  });
  return r;
}
