// `pagoda bench serve` against a real `pagoda serve` (CPU engine, stories260k): prints every metric,
// writes JSON, and its token totals agree with the server's own /metrics counters.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PAGODA_BIN,
  REPO_ROOT,
  STORIES,
  startServe,
  type ServeProcess,
} from '../../runner/test/helpers/serve-process.ts';
import { randomDataset, readVocabulary } from '../src/bench/dataset.ts';

let server: ServeProcess;
beforeAll(async () => {
  server = await startServe([STORIES, '--served-model-name', 'stories', '--device', 'cpu']);
});
afterAll(async () => {
  await server?.stop();
});

function counter(metrics: string, name: string, labels = ''): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function scrape() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return {
    prompt: counter(text, 'vllm:prompt_tokens_total'),
    generation: counter(text, 'vllm:generation_tokens_total'),
    success: counter(text, 'vllm:request_success_total', 'finished_reason="length"'),
  };
}

function runBench(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(PAGODA_BIN, ['bench', 'serve', ...args], { cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('pagoda bench serve', () => {
  it('reports every metric and agrees with the server counters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    const before = await scrape();
    const args = [
      '--base-url',
      server.url,
      '--model',
      'stories',
      '--tokenizer',
      STORIES,
      '--dataset-name',
      'random',
      '--num-prompts',
      '24',
      '--random-input-len',
      '40',
      '--random-output-len',
      '24',
      '--random-range-ratio',
      '0.5',
      '--request-rate',
      '40',
      '--max-concurrency',
      '6',
      '--seed',
      '11',
      '--ignore-eos',
      '--save-result',
      '--result-dir',
      dir,
      '--result-filename',
      'out.json',
    ];
    const res = await runBench(args);
    expect(res.code, res.stderr).toBe(0);
    for (const label of [
      'Successful requests:',
      'Benchmark duration (s):',
      'Total input tokens:',
      'Total generated tokens:',
      'Request throughput (req/s):',
      'Output token throughput (tok/s):',
      'Total token throughput (tok/s):',
      'Mean TTFT (ms):',
      'Median TTFT (ms):',
      'P99 TTFT (ms):',
      'Mean TPOT (ms):',
      'Median TPOT (ms):',
      'P99 TPOT (ms):',
      'Mean ITL (ms):',
      'Median ITL (ms):',
      'P99 ITL (ms):',
      'Mean E2EL (ms):',
      'Median E2EL (ms):',
      'P99 E2EL (ms):',
    ]) {
      expect(res.stdout).toMatch(
        new RegExp(`${label.replace(/[()/]/g, '\\$&')}\\s+\\d+(\\.\\d+)?`),
      );
    }
    expect(res.stderr).toMatch(/24\/24 requests/); // progress
    const json = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as {
      completed: number;
      duration_s: number;
      total_input_tokens: number;
      total_output_tokens: number;
      request_throughput: number;
      ttft_ms: { p99: number };
      client_cpu_s: number;
    };
    const after = await scrape();

    // The same requests the benchmark built: with ignore_eos every output is exactly its asked length.
    const dataset = randomDataset({
      num: 24,
      inputLen: 40,
      outputLen: 24,
      rangeRatio: 0.5,
      vocab: readVocabulary(STORIES),
      seed: 11,
    });
    const expectedIn = dataset.reduce((a, r) => a + r.promptIds.length, 0);
    const expectedOut = dataset.reduce((a, r) => a + r.outputLen, 0);
    expect(json.completed).toBe(24);
    expect(json.total_input_tokens).toBe(expectedIn);
    expect(json.total_output_tokens).toBe(expectedOut);
    expect(after.prompt - before.prompt).toBe(json.total_input_tokens);
    expect(after.generation - before.generation).toBe(json.total_output_tokens);
    expect(after.success - before.success).toBe(24);
    expect(json.request_throughput).toBeCloseTo(24 / json.duration_s, 6);
    expect(json.ttft_ms.p99).toBeGreaterThan(0);
    // the client's CPU time while it ran the requests: some, and never more than two cores' worth
    expect(json.client_cpu_s).toBeGreaterThan(0);
    expect(json.client_cpu_s).toBeLessThan(2 * json.duration_s + 1);
  });

  it('runs the ShareGPT-like lengths', async () => {
    const res = await runBench([
      '--base-url',
      server.url,
      '--model',
      'stories',
      '--tokenizer',
      STORIES,
      '--dataset-name',
      'sharegpt',
      '--dataset-path',
      `${REPO_ROOT}../shared/workloads/sharegpt-like.json`,
      '--num-prompts',
      '3',
      '--disable-tqdm',
    ]);
    // the first three pairs fit stories260k's 512-token context
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/Successful requests:\s+3/);
  });

  it('counts a request the server refuses as failed, with its error', async () => {
    // the fourth ShareGPT-like pair (339 in + 216 out) exceeds stories260k's 512-token context: HTTP 400
    const res = await runBench([
      '--base-url',
      server.url,
      '--model',
      'stories',
      '--tokenizer',
      STORIES,
      '--dataset-name',
      'sharegpt',
      '--dataset-path',
      `${REPO_ROOT}../shared/workloads/sharegpt-like.json`,
      '--num-prompts',
      '4',
      '--disable-tqdm',
    ]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/Successful requests:\s+3/);
    expect(res.stdout).toMatch(/Failed requests:\s+1/);
    expect(res.stderr).toMatch(/first failure: HTTP 400: .*maximum context length is 512 tokens/);
  });

  it('names a bad flag', async () => {
    const res = await runBench(['--base-url', server.url, '--num-promts', '3']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--num-promts/);
  });
});
