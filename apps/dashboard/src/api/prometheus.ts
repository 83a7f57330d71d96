// Parses Prometheus text exposition (what GET /metrics returns) and derives the per-model live
// figures the Running models page shows: tokens/s from counter deltas, KV cache use, queue sizes.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL))
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const value = Number(m[3]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

export interface ModelLoad {
  generationTokens: number;
  running: number;
  waiting: number;
  /** Mean over replicas, 0..1; null when no replica reports it. */
  kvCache: number | null;
}

/** Sums each model's samples over its replicas. */
export function loadByModel(samples: Sample[]): Map<string, ModelLoad> {
  const out = new Map<string, ModelLoad>();
  const kv = new Map<string, number[]>();
  for (const s of samples) {
    const model = s.labels.model;
    if (!model) continue;
    const m = out.get(model) ?? { generationTokens: 0, running: 0, waiting: 0, kvCache: null };
    if (s.name === 'vllm:generation_tokens_total') m.generationTokens += s.value;
    else if (s.name === 'vllm:num_requests_running') m.running += s.value;
    else if (s.name === 'vllm:num_requests_waiting') m.waiting += s.value;
    else if (s.name === 'vllm:kv_cache_usage_perc')
      kv.set(model, [...(kv.get(model) ?? []), s.value]);
    out.set(model, m);
  }
  for (const [model, values] of kv)
    out.get(model)!.kvCache = values.reduce((a, b) => a + b, 0) / values.length;
  return out;
}

/** Tokens per second between two scrapes `seconds` apart; a counter that went down (restart) counts from 0. */
export function tokensPerSecond(
  before: number | undefined,
  after: number,
  seconds: number,
): number {
  if (before === undefined || seconds <= 0) return 0;
  const delta = after >= before ? after - before : after;
  return delta / seconds;
}
