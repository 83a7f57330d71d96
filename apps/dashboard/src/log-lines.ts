// Runner log lines as a reader wants them: time, level and message out of pino's JSON (other lines kept
// as they are), and the history the server kept joined with the live lines that came meanwhile.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface LogEntry {
  /** Milliseconds since the epoch, when the line says. */
  time: number | null;
  level: LogLevel | null;
  message: string;
  /** Other fields of a JSON line, as `key=value`. */
  extra: string;
}

const PINO_LEVELS: Record<number, LogLevel> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const NAMED: Record<string, LogLevel> = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'fatal', critical: 'fatal' };
/** Fields every pino line has that say nothing to a reader. */
const QUIET = new Set(['level', 'time', 'msg', 'message', 'pid', 'hostname', 'name', 'v']);
/** A plain line that starts with a level word (Python's logging, vLLM): `INFO 12-03 10:00:00 ...`. */
const LEADING_LEVEL = /^\s*\[?(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\]?[\s:]/;

function level(v: unknown): LogLevel | null {
  if (typeof v === 'number') return PINO_LEVELS[v] ?? (v >= 50 ? 'error' : v >= 40 ? 'warn' : 'info');
  if (typeof v === 'string') return NAMED[v.toLowerCase()] ?? null;
  return null;
}

function time(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

function show(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  if (v !== null && typeof v === 'object' && 'message' in v) return String((v as { message: unknown }).message);
  return JSON.stringify(v);
}

export function parseLogLine(line: string): LogEntry {
  const trimmed = line.trim();
  if (trimmed.startsWith('{')) {
    try {
      const o = JSON.parse(trimmed) as Record<string, unknown>;
      if (o && typeof o === 'object' && !Array.isArray(o)) {
        const message = o.msg ?? o.message;
        const extra = Object.entries(o)
          .filter(([k]) => !QUIET.has(k))
          .map(([k, v]) => `${k}=${show(v)}`)
          .join(' ');
        return { time: time(o.time), level: level(o.level), message: typeof message === 'string' ? message : '', extra };
      }
    } catch {
      // Not JSON after all: shown as written.
    }
  }
  const lead = LEADING_LEVEL.exec(line);
  return { time: null, level: lead ? level(lead[1]) : null, message: line, extra: '' };
}

/**
 * The server's history of a replica followed by the live lines received for it, without the live lines
 * the history already holds (those that arrived before the history was read): the longest start of
 * `live` that `history` ends with is dropped.
 */
export function joinHistory(history: readonly string[], live: readonly string[]): string[] {
  for (let k = Math.min(history.length, live.length); k > 0; k--) {
    let same = true;
    for (let i = 0; i < k && same; i++) same = history[history.length - k + i] === live[i];
    if (same) return [...history, ...live.slice(k)];
  }
  return [...history, ...live];
}
