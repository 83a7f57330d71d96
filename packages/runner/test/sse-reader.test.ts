// Reading OpenAI SSE bodies: events split anywhere across network chunks, CRLF, comments, [DONE].
import { expect, it } from 'vitest';
import { readServerSentEvents } from '../src/backends/sse-reader.ts';

function body(pieces: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of pieces) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

it('reassembles events split across chunks and stops at [DONE]', async () => {
  const text =
    'data: {"a":1}\n\n: keep-alive\n\ndata: {"b":"é"}\r\n\r\ndata: [DONE]\n\ndata: {"after":true}\n\n';
  const bytes = new TextEncoder().encode(text);
  // one byte per network chunk, so the two bytes of é arrive apart too
  const events: unknown[] = [];
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const b of bytes) c.enqueue(new Uint8Array([b]));
      c.close();
    },
  });
  for await (const e of readServerSentEvents(stream)) events.push(e);
  expect(events).toEqual([{ a: 1 }, { b: 'é' }]);
  const whole: unknown[] = [];
  for await (const e of readServerSentEvents(body([text]))) whole.push(e);
  expect(whole).toEqual(events);
});
