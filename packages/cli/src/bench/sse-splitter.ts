// Splits a streamed SSE body, fed as text in whatever pieces the network gives, into the `data:`
// payloads of its events; push-based and string-only, so a benchmark client reading hundreds of
// streams spends little per event (no web streams, no async generator step per event).
export class SseSplitter {
  private buffer = '';
  /** True once `data: [DONE]` arrived; later text is ignored. */
  done = false;

  /** The data payloads of the events `text` completes (comments and events without data left out). */
  push(text: string): string[] {
    if (this.done) return [];
    this.buffer += text;
    const payloads: string[] = [];
    for (;;) {
      const { cut, skip } = this.boundary();
      if (cut < 0) break;
      const event = this.buffer.slice(0, cut);
      this.buffer = this.buffer.slice(cut + skip);
      const data = eventData(event);
      if (data === null) continue;
      if (data === '[DONE]') {
        this.done = true;
        this.buffer = '';
        break;
      }
      payloads.push(data);
    }
    return payloads;
  }

  /** Where the first event ends: a blank line, written with LF or CRLF. */
  private boundary(): { cut: number; skip: number } {
    const lf = this.buffer.indexOf('\n\n');
    if (!this.buffer.includes('\r')) return { cut: lf, skip: 2 };
    const m = /\r?\n\r?\n/.exec(this.buffer);
    return m ? { cut: m.index, skip: m[0].length } : { cut: -1, skip: 0 };
  }
}

/** An event's data lines joined by newlines (the SSE rule); null when it has none. */
function eventData(event: string): string | null {
  if (event.startsWith('data:') && !event.includes('\n')) return event.slice(5).trimStart();
  const lines = event.split(/\r?\n/).filter((line) => line.startsWith('data:'));
  return lines.length === 0 ? null : lines.map((line) => line.slice(5).trimStart()).join('\n');
}
