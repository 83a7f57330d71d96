// Where the CLI's long-running commands (start, worker, serve) send their pino logs: readable lines
// on a terminal, JSON lines (for log collectors) when the output is a file or a pipe.
import pino, { type DestinationStream, type Level, type Logger } from 'pino';

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields every record carries that a person reading the terminal does not need. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v']);

/** One JSON log record as a line for a person: time, level, source, message, then key=value pairs. */
export function formatLogRecord(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time =
    typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 19) : '';
  const level = LEVEL_NAMES[Number(record.level)] ?? String(record.level ?? '');
  const name = typeof record.name === 'string' ? ` ${record.name}:` : '';
  const fields = Object.entries(record)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v && typeof v === 'object') {
        const e = v as { message?: unknown; stack?: unknown };
        return `err=${JSON.stringify(e.message ?? '')}${typeof e.stack === 'string' && level !== 'INFO' ? `\n${e.stack}` : ''}`;
      }
      return `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`;
    });
  const msg = typeof record.msg === 'string' ? ` ${record.msg}` : '';
  return `${time} ${level.padEnd(5)}${name}${msg}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

/** A pino destination writing to `out`: formatted lines when it is a terminal, JSON lines otherwise. */
export function logDestination(
  out: NodeJS.WriteStream,
  pretty = out.isTTY === true,
): DestinationStream {
  if (!pretty) return out;
  return { write: (line: string) => void out.write(formatLogRecord(line)) };
}

/** The logger of a long-running command: `name` on each record, `level` as asked (default info). */
export function commandLogger(
  name: string,
  level: string | undefined,
  out: NodeJS.WriteStream = process.stdout,
): Logger {
  const chosen = level ?? 'info';
  if (chosen !== 'silent' && !(chosen in pino.levels.values))
    throw new Error(
      `--log-level ${chosen}: use one of ${[...Object.keys(pino.levels.values), 'silent'].join(', ')}`,
    );
  return pino({ name, level: chosen as Level }, logDestination(out));
}
