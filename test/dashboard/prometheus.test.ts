// The live figures of Running models from /metrics text: samples parsed with labels, summed per model
// over replicas, and tokens/s from two scrapes.
import { describe, expect, it } from 'vitest';
import {
  loadByModel,
  parsePrometheus,
  tokensPerSecond,
} from '../../apps/dashboard/src/api/prometheus.ts';

const TEXT = `# HELP vllm:generation_tokens_total Generated tokens.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{model="a",replica="r1"} 100
vllm:generation_tokens_total{model="a",replica="r2"} 50
vllm:generation_tokens_total{model="b \\"quoted\\"",replica="r3"} 7
vllm:num_requests_running{model="a",replica="r1"} 2
vllm:num_requests_running{model="a",replica="r2"} 1
vllm:num_requests_waiting{model="a",replica="r2"} 4
vllm:kv_cache_usage_perc{model="a",replica="r1"} 0.5
vllm:kv_cache_usage_perc{model="a",replica="r2"} 0.25
pagoda_replicas{state="ready"} 3
`;

describe('metrics for the dashboard', () => {
  it('parses names, labels (with escapes) and values', () => {
    const samples = parsePrometheus(TEXT);
    expect(samples).toHaveLength(9);
    expect(samples[2]).toEqual({
      name: 'vllm:generation_tokens_total',
      labels: { model: 'b "quoted"', replica: 'r3' },
      value: 7,
    });
  });

  it('sums per model over its replicas and averages KV cache use', () => {
    const a = loadByModel(parsePrometheus(TEXT)).get('a')!;
    expect(a).toEqual({ generationTokens: 150, running: 3, waiting: 4, kvCache: 0.375 });
    expect(loadByModel(parsePrometheus(TEXT)).get('b "quoted"')!.kvCache).toBeNull();
  });

  it('turns two counter readings into tokens/s, counting a restart from zero', () => {
    expect(tokensPerSecond(100, 160, 2)).toBe(30);
    expect(tokensPerSecond(100, 40, 2)).toBe(20);
    expect(tokensPerSecond(undefined, 40, 2)).toBe(0);
  });
});
