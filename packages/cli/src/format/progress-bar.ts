// A text progress bar for launches: redrawn in place on a terminal, one line per change elsewhere.
export function renderBar(fraction: number, width = 30): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

export class ProgressLine {
  private last = '';
  constructor(
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
  ) {}

  /** Shows `label` with a bar at `fraction`; off a terminal only when the text changes. */
  update(fraction: number, label: string): void {
    const text = `${renderBar(fraction)} ${label}`;
    if (text === this.last) return;
    this.last = text;
    this.write(this.tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }

  /** Ends the line (on a terminal the bar stays visible above what follows). */
  finish(): void {
    if (this.tty && this.last) this.write('\n');
    this.last = '';
  }
}
