// One streamed completion request against an OpenAI-compatible server, timed as vLLM's
// benchmark_serving times it: TTFT at the first token chunk, ITL between chunks, E2E latency.
import { performance } from 'node:perf_hooks';
import { readServerSentEvents } from '@pagoda/runner';
import type { BenchRequest } from './dataset.ts';

export interface RequestResult {
  success: boolean;
  error: string | null;
  promptLen: number;
  /** Output tokens as the server's usage reports them (chunks counted when it reports none). */
  outputTokens: number;
  ttft: number;
  itl: number[];
  latency: number;
}

export interface RequestTarget {
  url: string;
  model: string;
  apiKey: string | null;
  ignoreEos: boolean;
}

export async function sendRequest(
  target: RequestTarget,
  req: BenchRequest,
): Promise<RequestResult> {
  const result: RequestResult = {
    success: false,
    error: null,
    promptLen: req.promptIds.length,
    outputTokens: 0,
    ttft: 0,
    itl: [],
    latency: 0,
  };
  const start = performance.now();
  let last = start;
  let chunks = 0;
  let usageTokens: number | null = null;
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(target.apiKey ? { Authorization: `Bearer ${target.apiKey}` } : {}),
      },
      body: JSON.stringify({
        model: target.model,
        prompt: req.promptIds,
        max_tokens: req.outputLen,
        temperature: 0,
        ignore_eos: target.ignoreEos,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    if (!res.ok || !res.body)
      throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
    for await (const event of readServerSentEvents(res.body)) {
      const e = event as {
        error?: { message: string };
        choices?: Array<{ text?: string }>;
        usage?: { completion_tokens: number } | null;
      };
      if (e.error) throw new Error(e.error.message);
      if (e.usage) usageTokens = e.usage.completion_tokens;
      if (!e.choices?.some((c) => (c.text ?? '') !== '')) continue;
      const now = performance.now();
      if (chunks === 0) result.ttft = (now - start) / 1000;
      else result.itl.push((now - last) / 1000);
      last = now;
      chunks += 1;
    }
    result.latency = (performance.now() - start) / 1000;
    result.outputTokens = usageTokens ?? chunks;
    result.success = true;
  } catch (err) {
    result.error = (err as Error).message;
  }
  return result;
}
