// GET /metrics: the platform's own figures (launches by outcome, replicas by state, requests routed,
// proxy latency, queue depth) in Prometheus text, then each ready runner's metrics with model and
// replica labels added to every sample.
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class PlatformMetrics {
  private readonly launches = new Map<string, number>();
  private readonly routes = new Map<string, number>();
  private readonly buckets = BUCKETS.map(() => 0);
  private latencySum = 0;
  private latencyCount = 0;

  launched(outcome: 'accepted' | 'refused' | 'invalid'): void {
    this.launches.set(outcome, (this.launches.get(outcome) ?? 0) + 1);
  }

  routed(model: string, status: number): void {
    const key = `${model}\u0000${status}`;
    this.routes.set(key, (this.routes.get(key) ?? 0) + 1);
  }

  latency(seconds: number): void {
    this.latencySum += seconds;
    this.latencyCount += 1;
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) this.buckets[i]! += 1;
    });
  }

  /** The counters as plain numbers, for the events socket's metrics frames. */
  snapshot(): { launches: Record<string, number>; requests_routed: number; proxy_latency: { count: number; mean_seconds: number | null } } {
    return {
      launches: Object.fromEntries(['accepted', 'refused', 'invalid'].map((o) => [o, this.launches.get(o) ?? 0])),
      requests_routed: [...this.routes.values()].reduce((a, b) => a + b, 0),
      proxy_latency: { count: this.latencyCount, mean_seconds: this.latencyCount > 0 ? this.latencySum / this.latencyCount : null },
    };
  }

  render(replicasByState: Map<string, number>, queueDepth: Map<string, number>): string {
    const out: string[] = [];
    out.push('# HELP pagoda_launches_total Launch requests by outcome.', '# TYPE pagoda_launches_total counter');
    for (const outcome of ['accepted', 'refused', 'invalid']) out.push(`pagoda_launches_total{outcome="${outcome}"} ${this.launches.get(outcome) ?? 0}`);
    out.push('# HELP pagoda_replicas Replicas by state.', '# TYPE pagoda_replicas gauge');
    for (const [state, n] of replicasByState) out.push(`pagoda_replicas{state="${label(state)}"} ${n}`);
    out.push('# HELP pagoda_requests_routed_total Requests the proxy answered, by model and HTTP status.', '# TYPE pagoda_requests_routed_total counter');
    for (const [key, n] of this.routes) {
      const [model, status] = key.split('\u0000');
      out.push(`pagoda_requests_routed_total{model="${label(model!)}",status="${status}"} ${n}`);
    }
    out.push('# HELP pagoda_proxy_latency_seconds Time from receiving a request to the end of its response.', '# TYPE pagoda_proxy_latency_seconds histogram');
    BUCKETS.forEach((b, i) => out.push(`pagoda_proxy_latency_seconds_bucket{le="${b}"} ${this.buckets[i]}`));
    out.push(`pagoda_proxy_latency_seconds_bucket{le="+Inf"} ${this.latencyCount}`, `pagoda_proxy_latency_seconds_sum ${this.latencySum}`, `pagoda_proxy_latency_seconds_count ${this.latencyCount}`);
    out.push('# HELP pagoda_queue_depth Jobs waiting in each worker queue.', '# TYPE pagoda_queue_depth gauge');
    for (const [worker, n] of queueDepth) out.push(`pagoda_queue_depth{worker="${label(worker)}"} ${n}`);
    return `${out.join('\n')}\n`;
  }
}

export function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** One metric family of a runner's text: its HELP/TYPE lines and its samples, labels added. */
interface Family {
  comments: string[];
  samples: string[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+.*)$/;

/**
 * Adds `labels` to every sample of a Prometheus text and merges its families into `into`, so that the
 * samples of one family from several runners stay together under one HELP/TYPE pair, as the text
 * format requires.
 */
export function mergeRelabelled(text: string, labels: Record<string, string>, into: Map<string, Family>): void {
  const extra = Object.entries(labels)
    .map(([k, v]) => `${k}="${label(v)}"`)
    .join(',');
  let current: string | null = null;
  const family = (name: string): Family => {
    let f = into.get(name);
    if (!f) into.set(name, (f = { comments: [], samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const comment = /^#\s+(HELP|TYPE)\s+(\S+)/.exec(line);
    if (comment) {
      current = comment[2]!;
      const f = family(current);
      if (!f.comments.includes(line)) f.comments.push(line);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    // A sample belongs to the family announced above it (name, name_total, name_bucket, ...).
    const owner = current && m[1]!.startsWith(current) ? current : m[1]!;
    family(owner).samples.push(`${m[1]}{${m[3] ? `${m[3]},${extra}` : extra}} ${m[4]}`);
  }
}

/** Fetches each endpoint's /metrics (1 s each, in parallel) and labels its samples with model and replica. */
export async function scrapeRunners(endpoints: Array<{ url: string; modelUid: string; replicaId: string }>): Promise<string> {
  const texts = await Promise.all(
    endpoints.map(async (e) => {
      try {
        const res = await fetch(new URL('/metrics', e.url), { signal: AbortSignal.timeout(1_000) });
        return res.ok ? { e, text: await res.text() } : null;
      } catch {
        return null;
      }
    }),
  );
  const families = new Map<string, Family>();
  for (const t of texts) if (t) mergeRelabelled(t.text, { model: t.e.modelUid, replica: t.e.replicaId }, families);
  const lines = [...families.values()].flatMap((f) => [...f.comments, ...f.samples]);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
