// The client side of the stream-memory benchmark, in its own process so its memory is not the
// server's: opens N concurrent streaming completions against a URL, reads each to the end, and prints
// one JSON line: how many finished, failed, and the tokens streamed.
//
//   node --import tsx packages/server/bench/stream-clients.ts URL MODEL STREAMS MAX_TOKENS
import { Agent, request } from 'node:http';

const [url, model, streams, maxTokens] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

function stream(i: number): Promise<{ ok: boolean; events: number }> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ model, prompt: `Once upon a time ${i}`, max_tokens: Number(maxTokens), ignore_eos: true, stream: true });
    const req = request(
      new URL('/v1/completions', url),
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let events = 0;
        let tail = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          const parts = (tail + text).split('\n\n');
          tail = parts.pop() ?? '';
          events += parts.length;
        });
        res.on('end', () => resolve({ ok: res.statusCode === 200, events }));
        res.on('error', () => resolve({ ok: false, events }));
      },
    );
    req.on('error', () => resolve({ ok: false, events: 0 }));
    req.end(body);
  });
}

const results = await Promise.all(Array.from({ length: Number(streams) }, (_, i) => stream(i)));
const finished = results.filter((r) => r.ok).length;
console.log(JSON.stringify({ finished, failed: results.length - finished, events: results.reduce((a, r) => a + r.events, 0) }));
agent.destroy();
