// Reads a server-sent event stream from a fetch response: yields each `data:` payload parsed as
// JSON, and stops at [DONE] or the end of the body.
import { ApiError, authHeaders } from './client.ts';

export async function* readEvents(res: Response): AsyncGenerator<unknown> {
  if (!res.ok || !res.body) {
    const text = await res.text();
    let message = text.slice(0, 300) || `HTTP ${res.status}`;
    let param: string | null = null;
    let body: unknown = null;
    try {
      body = JSON.parse(text);
      const err = (body as { error?: { message?: string; param?: string } }).error;
      message = err?.message ?? message;
      param = err?.param ?? null;
    } catch {
      // not JSON: keep the text
    }
    // The body goes with the error: its code and params are what the page translates.
    throw new ApiError(res.status, message, param, body);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      if (data === '[DONE]') return;
      yield JSON.parse(data);
    }
  }
}

/** POSTs `body` as JSON and streams the answer's events. */
export async function* streamPost(
  path: string,
  body: unknown,
  signal?: AbortSignal,
): AsyncGenerator<unknown> {
  const res = await fetch(path, {
    method: 'POST',
    signal,
    headers: { ...authHeaders(), 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  yield* readEvents(res);
}

export async function* streamGet(path: string, signal?: AbortSignal): AsyncGenerator<unknown> {
  const res = await fetch(path, { signal, headers: authHeaders() });
  yield* readEvents(res);
}
