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

/** Adds labels to every sample line of a Prometheus text; comment lines are kept once per metric. */
export function relabel(text: string, labels: Record<string, string>, seenComments: Set<string>): string[] {
  const extra = Object.entries(labels)
    .map(([k, v]) => `${k}="${label(v)}"`)
    .join(',');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (line.startsWith('#')) {
      if (!seenComments.has(line)) {
        seenComments.add(line);
        out.push(line);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(.*)$/.exec(line);
    if (!m) continue;
    const inner = m[3] ? `${m[3]},${extra}` : extra;
    out.push(`${m[1]}{${inner}} ${m[4]}`);
  }
  return out;
}

/** Fetches each endpoint's /metrics (1 s each, in parallel) and labels its samples. */
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
  const seen = new Set<string>();
  const lines = texts.flatMap((t) => (t ? relabel(t.text, { model: t.e.modelUid, replica: t.e.replicaId }, seen) : []));
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
