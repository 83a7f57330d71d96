// How the long-running commands print their logs: readable lines on a terminal, JSON lines elsewhere.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { commandLogger, formatLogRecord, logDestination } from '../src/log-output.ts';

describe('log output', () => {
  it('formats a pino record as time, level, source, message and fields', () => {
    const line = formatLogRecord(
      JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 1, hostname: 'h', name: 'pagoda-server', url: 'http://127.0.0.1:9997', redis: 'embedded', msg: 'pagoda server listening' }),
    );
    expect(line).toBe('03:04:05 INFO  pagoda-server: pagoda server listening  url=http://127.0.0.1:9997 redis=embedded\n');
    expect(formatLogRecord(JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { message: 'boom', stack: 'Error: boom\n    at x' } }))).toBe(
      '00:00:00 ERROR failed  err="boom"\nError: boom\n    at x\n',
    );
    expect(formatLogRecord('not json')).toBe('not json\n');
  });

  it('writes JSON lines when the output is not a terminal, readable lines when it is', () => {
    const capture = (tty: boolean) => {
      const out = Object.assign(new PassThrough(), { isTTY: tty }) as unknown as NodeJS.WriteStream;
      let text = '';
      (out as unknown as PassThrough).on('data', (d: Buffer) => (text += d.toString()));
      const log = commandLogger('pagoda-worker', 'info', out);
      log.info({ worker: 'vm' }, 'pagoda worker running');
      log.debug('hidden at info');
      return () => text;
    };
    const json = capture(false);
    const pretty = capture(true);
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        const record = JSON.parse(json().trim()) as Record<string, unknown>;
        expect(record).toMatchObject({ level: 30, name: 'pagoda-worker', worker: 'vm', msg: 'pagoda worker running' });
        expect(pretty()).toMatch(/^\d\d:\d\d:\d\d INFO {2}pagoda-worker: pagoda worker running {2}worker=vm\n$/);
        expect(logDestination(Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream)).toBeInstanceOf(PassThrough);
        resolve();
      }),
    );
  });

  it('refuses an unknown level by name', () => {
    expect(() => commandLogger('x', 'loud')).toThrow('--log-level loud: use one of trace, debug, info, warn, error, fatal, silent');
  });
});
