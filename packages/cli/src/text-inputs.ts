// The texts `pagoda embed` and `pagoda rerank` work on: their arguments, or one per line of standard
// input when there are none and stdin is not a terminal. Empty input is refused here, before a request.
import type { CliIo } from './cli-io.ts';
import { UsageError } from './command-options.ts';

/**
 * The texts of `args`, else of standard input's lines (blank lines skipped: a file's trailing newline or
 * a spacer line is not a text). `what` names them in errors ("text", "document").
 */
export async function textInputs(
  args: readonly string[],
  io: CliIo,
  what: string,
): Promise<string[]> {
  if (args.length > 0) {
    const empty = args.findIndex((a) => a.trim() === '');
    if (empty >= 0) throw new UsageError(`${what} ${empty + 1} is empty`);
    return [...args];
  }
  if (io.stdinIsTTY)
    throw new UsageError(`give the ${what}s as arguments, or one per line on standard input`);
  const lines = (await io.readStdin()).split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new UsageError(`standard input holds no ${what}s (one per line)`);
  return lines;
}

/** A text on one line of a table: whitespace runs as one space, cut to `width` characters with "…". */
export function abbreviate(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const chars = [...flat];
  return chars.length <= width ? flat : `${chars.slice(0, width - 1).join('')}…`;
}

/** A number to 4 places, without the "-0.0000" toFixed gives a tiny negative. */
export function fixed4(x: number): string {
  const s = x.toFixed(4);
  return s === '-0.0000' ? '0.0000' : s;
}
