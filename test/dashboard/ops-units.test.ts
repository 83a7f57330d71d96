// The pure parts behind Running models and Benchmark: runner log lines read as time / level /
// message; history joined with live lines without repeats; the call snippets are valid requests and
// programs; benchmark runs named by the settings that differ; cluster samples kept in storage for
// ten minutes.
import { execFileSync } from 'node:child_process';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import {
  ChatCompletionRequestSchema,
  EmbeddingRequestSchema,
  RerankRequestSchema,
  type BenchRun,
  type ClusterDevice,
} from '../../packages/protocol/src/index.ts';
import { runLabels } from '../../apps/dashboard/src/bench-labels.ts';
import { addSample, loadHistory, sampleOf, WINDOW_MS } from '../../apps/dashboard/src/cluster-history.ts';
import { joinHistory, parseLogLine } from '../../apps/dashboard/src/log-lines.ts';
import { snippet } from '../../apps/dashboard/src/snippets.ts';

describe('log lines', () => {
  it('reads pino JSON as time, level and message, with the other fields after it', () => {
    const e = parseLogLine('{"level":40,"time":1764754205000,"pid":7,"hostname":"h","name":"pagoda-runner","msg":"slow step","ms":812,"phase":"decode step"}');
    expect(e).toEqual({ time: 1764754205000, level: 'warn', message: 'slow step', extra: 'ms=812 phase="decode step"' });
    expect(parseLogLine('{"level":"error","time":"2026-12-03T09:00:00Z","message":"boom"}')).toMatchObject({ level: 'error', message: 'boom', time: Date.parse('2026-12-03T09:00:00Z') });
  });

  it('keeps any other line as written, with a leading level word read', () => {
    expect(parseLogLine('INFO 12-03 09:00:00 engine started')).toEqual({ time: null, level: 'info', message: 'INFO 12-03 09:00:00 engine started', extra: '' });
    expect(parseLogLine('{not json')).toEqual({ time: null, level: null, message: '{not json', extra: '' });
    expect(parseLogLine('[1, 2]').message).toBe('[1, 2]');
  });

  it('joins the kept history with the live lines without repeating those it already holds', () => {
    expect(joinHistory(['a', 'b', 'c'], ['b', 'c', 'd'])).toEqual(['a', 'b', 'c', 'd']);
    expect(joinHistory(['a', 'b'], ['c'])).toEqual(['a', 'b', 'c']);
    expect(joinHistory([], ['x'])).toEqual(['x']);
    expect(joinHistory(['x', 'x'], ['x', 'x', 'y'])).toEqual(['x', 'x', 'y']);
  });
});

describe('call snippets', () => {
  const base = 'http://gpu-box:9997/v1';
  const curlBody = (code: string) => JSON.parse(/-d '(.*)'$/m.exec(code)![1]!.replace(/'\\''/g, "'"));

  it('send a body the server accepts for chat, embedding and rerank models', () => {
    const chat = snippet('curl', 'LLM', "o'brien", base);
    expect(chat.split('\n')[0]).toBe(`curl ${base}/chat/completions \\`);
    expect(ChatCompletionRequestSchema.safeParse(curlBody(chat)).success).toBe(true);
    expect(curlBody(chat).model).toBe("o'brien");
    expect(EmbeddingRequestSchema.safeParse(curlBody(snippet('curl', 'embedding', 'e5', base))).success).toBe(true);
    expect(snippet('curl', 'embedding', 'e5', base)).toContain(`${base}/embeddings`);
    expect(RerankRequestSchema.safeParse(curlBody(snippet('curl', 'rerank', 'bge', base))).success).toBe(true);
  });

  it('are programs that parse: JavaScript as a module, Python by its own parser where Python is installed', () => {
    for (const type of ['LLM', 'embedding', 'rerank'] as const) {
      const js = snippet('javascript', type, "it's", base);
      const out = ts.transpileModule(js, { reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      expect(out.diagnostics ?? [], js).toEqual([]);
      expect(js).toContain(base);
    }
    let python = true;
    try {
      execFileSync('python3', ['-c', 'pass']);
    } catch {
      python = false;
    }
    if (!python) return;
    for (const type of ['LLM', 'embedding', 'rerank'] as const) {
      const py = snippet('python', type, 'tiny "q"', base);
      execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: py });
    }
  });
});

describe('benchmark run labels', () => {
  const run = (id: string, at: string, params: Partial<BenchRun['params']>, model = 'tiny'): BenchRun => ({
    id,
    model_uid: model,
    params: { model_uid: model, num_prompts: 20, input_len: 32, output_len: 16, request_rate: null, max_concurrency: 4, seed: 0, ...params },
    status: 'done',
    done: 20,
    total: 20,
    started_at: at,
    finished_at: at,
    summary: null,
    error: null,
  });
  const say = (k: string, v: unknown) => `${k}=${v}`;
  const nth = (n: number) => `#${n}`;

  it('names each run by the settings that differ between the runs shown', () => {
    const runs = [run('a', '2026-12-03T09:00:00Z', { input_len: 32 }), run('b', '2026-12-03T09:01:00Z', { input_len: 128, max_concurrency: 8 }, 'big')];
    expect(runLabels(runs, say, nth)).toEqual(['model_uid=tiny · input_len=32 · max_concurrency=4', 'model_uid=big · input_len=128 · max_concurrency=8']);
  });

  it('numbers runs that differ in nothing, oldest first', () => {
    const runs = [run('new', '2026-12-03T09:05:00Z', {}), run('old', '2026-12-03T09:00:00Z', {})];
    expect(runLabels(runs, say, nth)).toEqual(['#2', '#1']);
    const three = [...runs, run('c', '2026-12-03T09:09:00Z', { output_len: 64 })];
    expect(runLabels(three, say, nth)).toEqual(['output_len=16 · #2', 'output_len=16 · #1', 'output_len=64']);
  });
});

describe('cluster history', () => {
  const device = (used: number): ClusterDevice => ({ kind: 'gpu', index: 0, name: 'H200', memory_total: 100, memory_used: used, utilization: 5, declared: false, worker: 'w1', worker_status: 'alive', address: 'a', memory_claimed: 0, models: [] });
  const store = () => {
    const m = new Map<string, string>();
    return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
  };

  it('keeps the samples of the last ten minutes in storage, oldest first, for the next visit', () => {
    const s = store();
    let h = loadHistory(0, s);
    expect(h).toEqual([]);
    const t0 = 1_000_000;
    h = addSample(h, sampleOf(t0, [device(1)]), s);
    h = addSample(h, sampleOf(t0 + 2000, [device(2)]), s);
    expect(loadHistory(t0 + 3000, s).map((x) => x.devices[0]!.used)).toEqual([1, 2]);
    // Ten minutes on, the first has aged out.
    addSample(h, sampleOf(t0 + WINDOW_MS + 1000, [device(3)]), s);
    expect(loadHistory(t0 + WINDOW_MS + 1000, s).map((x) => x.devices[0]!.used)).toEqual([2, 3]);
  });

  it('starts empty when storage holds something unreadable', () => {
    const s = store();
    s.setItem('pagoda.clusterHistory', '{oops');
    expect(loadHistory(5, s)).toEqual([]);
    s.setItem('pagoda.clusterHistory', JSON.stringify([{ t: 'x' }, { t: 4, devices: [] }]));
    expect(loadHistory(5, s)).toHaveLength(1);
  });
});
