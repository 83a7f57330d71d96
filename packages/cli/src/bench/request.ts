// One streamed completion request against an OpenAI-compatible server, timed as vLLM's
// benchmark_serving times it: TTFT at the first token chunk, ITL between chunks, E2E latency.
// node:http with a keep-alive agent and a push-based SSE splitter, so that the client reading every
// stream at once costs little per event and measures the server rather than itself.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { BenchRequest } from './dataset.ts';
import { SseSplitter } from './sse-splitter.ts';

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

// One connection per request in flight, kept for the next one (as aiohttp's pool in vLLM's client).
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: Infinity });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: Infinity });

function post(url: URL, body: string, apiKey: string | null): Promise<IncomingMessage> {
  const https = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      agent: https ? httpsAgent : httpAgent,
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        Accept: 'text/event-stream',
        ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
      },
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end(body);
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const piece of res) text += piece as string;
  return text;
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
    const res = await post(
      new URL(target.url),
      JSON.stringify({
        model: target.model,
        prompt: req.promptIds,
        max_tokens: req.outputLen,
        temperature: 0,
        ignore_eos: target.ignoreEos,
        stream: true,
        stream_options: { include_usage: true },
      }),
      target.apiKey,
    );
    if (res.statusCode !== 200)
      throw new Error(`HTTP ${res.statusCode}: ${(await readAll(res)).slice(0, 300)}`);
    const splitter = new SseSplitter();
    await new Promise<void>((resolve, reject) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        try {
          for (const data of splitter.push(text)) {
            const e = JSON.parse(data) as {
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
        } catch (err) {
          res.destroy();
          reject(err as Error);
        }
      });
      res.once('end', resolve);
      res.once('error', reject);
      res.once('close', () => (res.complete ? resolve() : reject(new Error('the server closed the stream early'))));
    });
    result.latency = (performance.now() - start) / 1000;
    result.outputTokens = usageTokens ?? chunks;
    result.success = true;
  } catch (err) {
    result.error = (err as Error).message;
  }
  return result;
}
