// Reads an OpenAI chat completion stream (server-sent events) into its content deltas.
import { errorMessage, PagodaApiError } from './api-error.ts';

/** The text deltas of a streamed chat completion body, in order; an `error` event throws. */
export async function* chatDeltas(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        const parsed = JSON.parse(data) as {
          choices?: Array<{ delta?: { content?: string | null } }>;
          error?: unknown;
        };
        if (parsed.error)
          throw new PagodaApiError(500, errorMessage(parsed, 500).message, null, parsed);
        const text = parsed.choices?.[0]?.delta?.content;
        if (text) yield text;
      }
    }
  }
}
