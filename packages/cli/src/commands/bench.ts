// `pagoda bench serve`: vLLM's benchmark_serving load generator for any OpenAI-compatible server.
import { writeFileSync } from 'node:fs';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  randomDataset,
  readVocabulary,
  shareGptLikeDataset,
  type BenchRequest,
} from '../bench/dataset.ts';
import { runLoad } from '../bench/load-generator.ts';
import { formatSummary, summarize } from '../bench/summary.ts';

const FLAGS = {
  'base-url': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  endpoint: { type: 'string' },
  model: { type: 'string' },
  tokenizer: { type: 'string' },
  'api-key': { type: 'string' },
  'dataset-name': { type: 'string' },
  'dataset-path': { type: 'string' },
  'num-prompts': { type: 'string' },
  'random-input-len': { type: 'string' },
  'random-output-len': { type: 'string' },
  'random-range-ratio': { type: 'string' },
  'request-rate': { type: 'string' },
  'max-concurrency': { type: 'string' },
  seed: { type: 'string' },
  'ignore-eos': { type: 'boolean' },
  'save-result': { type: 'boolean' },
  'result-dir': { type: 'string' },
  'result-filename': { type: 'string' },
  'disable-tqdm': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const USAGE = `usage: pagoda bench serve --model NAME [flags]

Load-tests an OpenAI-compatible server (/v1/completions, streamed, token-id prompts) and reports what
vLLM's benchmark_serving reports: request/s, output and total tokens/s, TTFT, TPOT, ITL, E2E latency.

  --base-url URL | --host H --port P   the server (default http://127.0.0.1:8000)
  --endpoint PATH                      default /v1/completions
  --model NAME                         the served model name (default: the server's first model)
  --tokenizer DIR                      model folder whose vocabulary random prompts use (default: --model if a folder)
  --dataset-name random|sharegpt       default random; sharegpt reads --dataset-path (e.g. ../shared/workloads/sharegpt-like.json)
  --num-prompts N                      default 1000
  --random-input-len N --random-output-len N --random-range-ratio R   defaults 1024, 128, 0
  --request-rate R                     requests/s with Poisson arrivals; default inf (all at once)
  --max-concurrency N                  at most N requests in flight
  --seed N  --ignore-eos  --api-key KEY
  --save-result [--result-dir DIR] [--result-filename FILE]   write the figures as JSON
  --disable-tqdm                       no progress line
`;

function num(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = v === 'inf' ? Infinity : Number(v);
  if (Number.isNaN(n) || v.trim() === '') throw new Error(`--${flag} takes a number, got '${v}'`);
  return n;
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

async function defaultModel(baseUrl: string, apiKey: string | null): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/models`, {
    headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
  });
  if (!res.ok) throw new Error(`GET ${baseUrl}/v1/models answered ${res.status}; pass --model`);
  const list = (await res.json()) as { data: Array<{ id: string; root?: string }> };
  const first = list.data[0];
  if (!first) throw new Error(`${baseUrl} serves no model`);
  return first.id;
}

export async function benchServe(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: FLAGS,
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new Error(`unexpected argument '${positionals[0]}'`);
  const baseUrl = (
    values['base-url'] ?? `http://${values.host ?? '127.0.0.1'}:${values.port ?? '8000'}`
  )
    .replace(/\/+$/, '')
    .replace(/\/v1$/, '');
  const apiKey = values['api-key'] ?? null;
  const model = values.model ?? (await defaultModel(baseUrl, apiKey));
  const tokenizerDir = values.tokenizer ?? (isDir(model) ? model : null);
  if (!tokenizerDir)
    throw new Error(
      'pass --tokenizer <model folder>: random prompts are token ids from the model vocabulary',
    );
  const vocab = readVocabulary(tokenizerDir);
  const seed = num(values.seed, 'seed', 0);
  const numPrompts = num(values['num-prompts'], 'num-prompts', 1000);
  const datasetName = values['dataset-name'] ?? 'random';
  let requests: BenchRequest[];
  if (datasetName === 'random') {
    requests = randomDataset({
      num: numPrompts,
      inputLen: num(values['random-input-len'], 'random-input-len', 1024),
      outputLen: num(values['random-output-len'], 'random-output-len', 128),
      rangeRatio: num(values['random-range-ratio'], 'random-range-ratio', 0),
      vocab,
      seed,
    });
  } else if (datasetName === 'sharegpt') {
    if (!values['dataset-path'])
      throw new Error(
        '--dataset-name sharegpt needs --dataset-path (e.g. ../shared/workloads/sharegpt-like.json)',
      );
    requests = shareGptLikeDataset({ path: values['dataset-path'], num: numPrompts, vocab, seed });
  } else {
    throw new Error(`--dataset-name must be random or sharegpt, got '${datasetName}'`);
  }
  const requestRate = num(values['request-rate'], 'request-rate', Infinity);
  const maxConcurrency =
    values['max-concurrency'] === undefined
      ? null
      : num(values['max-concurrency'], 'max-concurrency', 0);
  const endpoint = values.endpoint ?? '/v1/completions';
  if (endpoint !== '/v1/completions')
    throw new Error(
      `--endpoint ${endpoint}: only /v1/completions is supported (prompts are token ids)`,
    );

  process.stderr.write(
    `benchmarking ${baseUrl}${endpoint} model=${model}: ${requests.length} requests, rate=${requestRate}, max concurrency=${maxConcurrency ?? 'none'}\n`,
  );
  const showProgress = !values['disable-tqdm'];
  let lastProgress = 0;
  // The client's own CPU time: a client near one CPU second per second is measuring itself, not the server.
  const cpuBefore = process.cpuUsage();
  const { results, durationS } = await runLoad(
    { url: `${baseUrl}${endpoint}`, model, apiKey, ignoreEos: values['ignore-eos'] ?? false },
    requests,
    {
      requestRate,
      maxConcurrency,
      seed,
      progress: (done, total) => {
        // at most five updates a second, and always the last
        const now = Date.now();
        if (!showProgress || (done < total && now - lastProgress < 200)) return;
        lastProgress = now;
        process.stderr.write(`\r${progressBar(done, total)}${done === total ? '\n' : ''}`);
      },
    },
  );
  const cpu = process.cpuUsage(cpuBefore);
  const clientCpuS = (cpu.user + cpu.system) / 1e6;
  const summary = summarize(results, durationS);
  process.stdout.write(`${formatSummary(summary)}\n`);
  const firstError = results.find((r) => !r.success)?.error;
  if (firstError) process.stderr.write(`first failure: ${firstError}\n`);

  if (values['save-result']) {
    const file = join(
      values['result-dir'] ?? '.',
      values['result-filename'] ??
        `bench-serve-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    );
    const record = {
      date: new Date().toISOString(),
      base_url: baseUrl,
      endpoint,
      model,
      dataset_name: datasetName,
      num_prompts: requests.length,
      request_rate: Number.isFinite(requestRate) ? requestRate : 'inf',
      max_concurrency: maxConcurrency,
      seed,
      ignore_eos: values['ignore-eos'] ?? false,
      ...summary,
      client_cpu_s: clientCpuS,
    };
    writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
    process.stderr.write(`wrote ${file}\n`);
  }
  return summary.failed > 0 ? 1 : 0;
}

function progressBar(done: number, total: number): string {
  const width = 30;
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} requests`;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'serve') {
    process.stderr.write(
      sub ? `pagoda bench: unknown benchmark '${sub}'; try: pagoda bench serve --help\n` : USAGE,
    );
    return 2;
  }
  try {
    return await benchServe(rest);
  } catch (err) {
    process.stderr.write(`pagoda bench serve: ${(err as Error).message}\n`);
    return 2;
  }
}
