// The runner's /metrics: vLLM's metric names, fed by per-request observations from the HTTP layer and by
// the backend's engine figures (queue depth, KV cache use, prefix cache, preemptions).
import type { BackendStats } from './backend.ts';
import { Counter, Histogram, renderCounterValue, renderGauge, type Labels } from './prometheus.ts';

const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
  160, 640, 2560,
];
const ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
];
const LATENCY_BUCKETS = [
  0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680,
];

export interface QueueFigures {
  running: number;
  waiting: number;
}

export class RunnerMetrics {
  private readonly labels: Labels;
  private readonly promptTokens = new Counter(
    'vllm:prompt_tokens',
    'Number of prefill tokens processed.',
  );
  private readonly generationTokens = new Counter(
    'vllm:generation_tokens',
    'Number of generation tokens processed.',
  );
  private readonly requestSuccess = new Counter(
    'vllm:request_success',
    'Count of successfully processed requests.',
  );
  private readonly ttft = new Histogram(
    'vllm:time_to_first_token_seconds',
    'Histogram of time to first token in seconds.',
    TTFT_BUCKETS,
  );
  private readonly itl = new Histogram(
    'vllm:inter_token_latency_seconds',
    'Histogram of inter-token latency in seconds.',
    ITL_BUCKETS,
  );
  private readonly e2e = new Histogram(
    'vllm:e2e_request_latency_seconds',
    'Histogram of end to end request latency in seconds.',
    LATENCY_BUCKETS,
  );
  private readonly queueTime = new Histogram(
    'vllm:request_queue_time_seconds',
    'Histogram of time spent waiting for admission in seconds.',
    LATENCY_BUCKETS,
  );

  constructor(modelName: string) {
    this.labels = { model_name: modelName };
    // Counters appear at zero from the start, as Prometheus clients expect.
    this.promptTokens.inc(this.labels, 0);
    this.generationTokens.inc(this.labels, 0);
  }

  observeQueueTime(seconds: number): void {
    this.queueTime.observe(seconds);
  }
  observeFirstToken(seconds: number): void {
    this.ttft.observe(seconds);
  }
  observeInterToken(seconds: number): void {
    this.itl.observe(seconds);
  }

  /** A request ended (any finish reason, including abort by the client). */
  observeFinished(f: {
    promptTokens: number;
    generationTokens: number;
    finishReason: string;
    e2eSeconds: number;
  }): void {
    this.promptTokens.inc(this.labels, f.promptTokens);
    this.generationTokens.inc(this.labels, f.generationTokens);
    this.requestSuccess.inc({ ...this.labels, finished_reason: f.finishReason });
    this.e2e.observe(f.e2eSeconds);
  }

  render(queue: QueueFigures, stats: BackendStats | null): string {
    const l = this.labels;
    const parts = [
      renderGauge(
        'vllm:num_requests_running',
        'Number of requests in model execution batches.',
        l,
        stats?.num_running ?? queue.running,
      ),
      renderGauge(
        'vllm:num_requests_waiting',
        'Number of requests waiting to be processed.',
        l,
        queue.waiting + (stats?.num_waiting ?? 0),
      ),
      ...memoryGauges(l),
    ];
    if (stats?.kv_cache_usage != null)
      parts.push(
        renderGauge(
          'vllm:kv_cache_usage_perc',
          'KV-cache usage. 1 means 100 percent usage.',
          l,
          stats.kv_cache_usage,
        ),
      );
    if (stats?.prefix_cache_queries != null)
      parts.push(
        renderCounterValue(
          'vllm:prefix_cache_queries',
          'Prefix cache queries, in terms of number of queried tokens.',
          l,
          stats.prefix_cache_queries,
        ),
      );
    if (stats?.prefix_cache_hits != null)
      parts.push(
        renderCounterValue(
          'vllm:prefix_cache_hits',
          'Prefix cache hits, in terms of number of cached tokens.',
          l,
          stats.prefix_cache_hits,
        ),
      );
    if (stats?.num_preemptions != null)
      parts.push(
        renderCounterValue(
          'vllm:num_preemptions',
          'Cumulative number of preemptions from the engine.',
          l,
          stats.num_preemptions,
        ),
      );
    // Pagoda's own: the device times a sample of the steps, in pairs; idle between steps / paired seconds is the GPU's
    // idle share between steps, on the device's clock. (Busy over timed step seconds counts an eager step's wait for
    // its launches as busy and can pass 1.)
    const engineCounters: Array<[string, string, number | null | undefined]> = [
      ['pagoda:engine_steps', 'Engine steps run.', stats?.engine_steps],
      [
        'pagoda:engine_steps_launched_ahead',
        'Engine steps launched while the step before was still running on the device.',
        stats?.engine_steps_launched_ahead,
      ],
      ['pagoda:engine_step_seconds', 'Wall time of the engine steps, host and forward.', stats?.engine_step_seconds],
      [
        'pagoda:engine_device_busy_seconds',
        'Device busy time of the engine steps the device timed (GPU backends; a sample of the steps).',
        stats?.engine_device_busy_seconds,
      ],
      [
        'pagoda:engine_device_timed_step_seconds',
        'Wall time of the engine steps the device timed (host clock, between step results).',
        stats?.engine_device_timed_step_seconds,
      ],
      [
        'pagoda:engine_device_idle_between_steps_seconds',
        'Device idle time between engine steps timed in pairs (the first step ending to the second starting).',
        stats?.engine_device_idle_between_steps_seconds,
      ],
      [
        'pagoda:engine_device_paired_seconds',
        'That idle time plus the device time of the steps after it: the idle over this is the idle share between steps.',
        stats?.engine_device_paired_seconds,
      ],
    ];
    for (const [name, help, value] of engineCounters)
      if (value != null) parts.push(renderCounterValue(name, help, l, value));
    parts.push(
      this.promptTokens.render(),
      this.generationTokens.render(),
      this.requestSuccess.render(),
      this.ttft.render(l),
      this.itl.render(l),
      this.e2e.render(l),
      this.queueTime.render(l),
    );
    return parts.join('\n') + '\n';
  }
}

/** This process's memory, as prom-client names it: what a leak would show first. */
function memoryGauges(labels: Labels): string[] {
  const m = process.memoryUsage();
  return [
    renderGauge('process_resident_memory_bytes', 'Resident memory size in bytes.', labels, m.rss),
    renderGauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', labels, m.heapUsed),
    renderGauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', labels, m.heapTotal),
    renderGauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', labels, m.external),
  ];
}
