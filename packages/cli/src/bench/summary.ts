// The figures vLLM's benchmark_serving reports, computed with its definitions from per-request results.
import type { BenchSummary, Distribution } from '@pagoda/protocol';
import type { RequestResult } from './request.ts';

export type { BenchSummary, Distribution };

/** Percentile with linear interpolation between closest ranks (numpy's default). */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function distribution(seconds: number[]): Distribution {
  const ms = seconds.map((s) => s * 1000).sort((a, b) => a - b);
  if (ms.length === 0) return { mean: 0, median: 0, std: 0, p99: 0 };
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const std = Math.sqrt(ms.reduce((a, b) => a + (b - mean) ** 2, 0) / ms.length);
  return { mean, median: percentile(ms, 50), std, p99: percentile(ms, 99) };
}

export function summarize(results: RequestResult[], durationS: number): BenchSummary {
  const ok = results.filter((r) => r.success);
  const input = ok.reduce((a, r) => a + r.promptLen, 0);
  const output = ok.reduce((a, r) => a + r.outputTokens, 0);
  // TPOT excludes the first token and is defined only for outputs of more than one token.
  const tpots = ok
    .filter((r) => r.outputTokens > 1)
    .map((r) => (r.latency - r.ttft) / (r.outputTokens - 1));
  return {
    duration_s: durationS,
    completed: ok.length,
    failed: results.length - ok.length,
    total_input_tokens: input,
    total_output_tokens: output,
    request_throughput: ok.length / durationS,
    output_throughput: output / durationS,
    total_token_throughput: (input + output) / durationS,
    ttft_ms: distribution(ok.map((r) => r.ttft)),
    tpot_ms: distribution(tpots),
    itl_ms: distribution(ok.flatMap((r) => r.itl)),
    e2el_ms: distribution(ok.map((r) => r.latency)),
  };
}

export function formatSummary(s: BenchSummary): string {
  const row = (label: string, value: number | string, digits = 2) =>
    `${label.padEnd(40)}${typeof value === 'number' ? value.toFixed(digits) : value}`;
  const block = (title: string, short: string, d: Distribution) => [
    `${` ${title} `.padStart(25 + Math.ceil(title.length / 2), '-').padEnd(50, '-')}`,
    row(`Mean ${short} (ms):`, d.mean),
    row(`Median ${short} (ms):`, d.median),
    row(`P99 ${short} (ms):`, d.p99),
  ];
  return [
    `${' Serving Benchmark Result '.padStart(38, '=').padEnd(50, '=')}`,
    row('Successful requests:', s.completed, 0),
    row('Failed requests:', s.failed, 0),
    row('Benchmark duration (s):', s.duration_s),
    row('Total input tokens:', s.total_input_tokens, 0),
    row('Total generated tokens:', s.total_output_tokens, 0),
    row('Request throughput (req/s):', s.request_throughput),
    row('Output token throughput (tok/s):', s.output_throughput),
    row('Total token throughput (tok/s):', s.total_token_throughput),
    ...block('Time to First Token', 'TTFT', s.ttft_ms),
    ...block('Time per Output Token (excl. 1st token)', 'TPOT', s.tpot_ms),
    ...block('Inter-token Latency', 'ITL', s.itl_ms),
    ...block('End-to-end Latency', 'E2EL', s.e2el_ms),
    '='.repeat(50),
  ].join('\n');
}
