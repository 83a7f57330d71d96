// A minimal Prometheus text-format registry: counters (with one optional label), gauges and histograms.
export type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels, by = 1): void {
    const key = labelText(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values())
      lines.push(`${this.name}_total${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= this.buckets[i]!) this.counts[i]! += 1;
  }

  render(labels: Labels): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((le, i) =>
      lines.push(
        `${this.name}_bucket${labelText({ ...labels, le: String(le) })} ${this.counts[i]}`,
      ),
    );
    lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${this.count}`);
    lines.push(`${this.name}_sum${labelText(labels)} ${this.sum}`);
    lines.push(`${this.name}_count${labelText(labels)} ${this.count}`);
    return lines.join('\n');
  }
}

export function renderGauge(name: string, help: string, labels: Labels, value: number): string {
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} gauge`,
    `${name}${labelText(labels)} ${value}`,
  ].join('\n');
}

/** A counter whose total is owned elsewhere (the engine), rendered with the _total suffix. */
export function renderCounterValue(
  name: string,
  help: string,
  labels: Labels,
  value: number,
): string {
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} counter`,
    `${name}_total${labelText(labels)} ${value}`,
  ].join('\n');
}
