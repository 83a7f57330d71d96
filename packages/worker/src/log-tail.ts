// The last N lines a runner wrote, kept for error reports ("failed: … last lines: …").
export class LogTail {
  private readonly lines: string[] = [];
  constructor(private readonly limit = 50) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.limit) this.lines.shift();
  }

  last(n = this.limit): string[] {
    return this.lines.slice(-n);
  }
}

/** Splits a byte stream into lines, holding the unfinished tail until the next chunk. */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('utf8');
    let at: number;
    while ((at = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, at).replace(/\r$/, '');
      pending = pending.slice(at + 1);
      if (line) onLine(line);
    }
  };
}
