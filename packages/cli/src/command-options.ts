// The part every management command shares: --endpoint / --api-key / --help, the client they build,
// strict flag parsing, and turning failures into messages and exit codes.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { processIo, type CliIo } from './cli-io.ts';
import { PagodaApiError, PagodaClient } from '@pagoda/client';

/** Flags every management command takes. */
export const CONNECTION_FLAGS = {
  endpoint: { type: 'string', short: 'e' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONNECTION_HELP = `  -e, --endpoint URL   the Pagoda server (default PAGODA_ENDPOINT or http://127.0.0.1:9997)
  --api-key KEY        admin key for management routes (default PAGODA_API_KEY)`;

export function clientFrom(
  values: { endpoint?: string; 'api-key'?: string },
  io: CliIo,
): PagodaClient {
  return new PagodaClient(
    {
      endpoint: values.endpoint,
      apiKey: values['api-key'],
      fetch: io.fetch,
      unreachableHint: 'is it running? Point --endpoint or PAGODA_ENDPOINT at it',
      missingKeyHint: '(give --api-key or set PAGODA_API_KEY)',
    },
    io.env,
  );
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/**
 * Runs a command body, turning its failures into messages and exit codes: usage errors 2 (with the
 * usage), server refusals and unreachable servers 1.
 */
export async function runCommand(
  name: string,
  usage: string,
  io: CliIo,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      io.err(`pagoda ${name}: ${(err as Error).message}\n\n${usage}`);
      return 2;
    }
    const status = err instanceof PagodaApiError ? ` (HTTP ${err.status})` : '';
    io.err(`pagoda ${name}: ${(err as Error).message}${status}\n`);
    return 1;
  }
}

/** A flag's number, or a UsageError naming the flag. */
export function numberFlag(
  raw: string | undefined,
  flag: string,
  opts: { integer?: boolean } = {},
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
    throw new UsageError(
      `--${flag} takes ${opts.integer ? 'an integer' : 'a number'}, got '${raw}'`,
    );
  }
  return n;
}

/** A flag's whole number of at least 1 (a count or a size), or a UsageError naming the flag. */
export function countFlag(raw: string | undefined, flag: string): number | undefined {
  const n = numberFlag(raw, flag, { integer: true });
  if (n !== undefined && n < 1) throw new UsageError(`--${flag} must be at least 1, got ${n}`);
  return n;
}

/**
 * The model uid a command acts on (--model, else its first argument) and the arguments after it;
 * a UsageError saying `missing` when there is none.
 */
export function modelArgument(
  values: { model?: string },
  positionals: readonly string[],
  missing: string,
): { model: string; rest: readonly string[] } {
  const model = values.model ?? positionals[0];
  if (!model) throw new UsageError(missing);
  return { model, rest: values.model ? positionals : positionals.slice(1) };
}

/**
 * What a command acts on by name: its arguments, then the repeatable flag's; a UsageError saying
 * `missing` when there are none.
 */
export function namesGiven(
  positionals: readonly string[],
  flagged: readonly string[] | undefined,
  missing: string,
): string[] {
  const names = [...positionals, ...(flagged ?? [])];
  if (names.length === 0) throw new UsageError(missing);
  return names;
}

/** Acts on each name in turn, saying `${done} NAME` after each; the first failure stops it. Exits 0. */
export async function actOnEach(
  io: CliIo,
  names: readonly string[],
  done: string,
  act: (name: string) => Promise<unknown>,
): Promise<number> {
  for (const name of names) {
    await act(name);
    io.out(`${done} ${name}\n`);
  }
  return 0;
}

/** The flag table parseArgs takes (node:util does not export its name). */
export type FlagSpecs = NonNullable<ParseArgsConfig['options']>;

type StrictFlags<T extends FlagSpecs> = {
  args: string[];
  options: T;
  strict: true;
  allowPositionals: true;
};

/** What parseArgs gives for a command's flags: typed values and the positional arguments. */
export type ParsedFlags<T extends FlagSpecs> = ReturnType<typeof parseArgs<StrictFlags<T>>>;

/**
 * A management command's `run`: parses argv strictly against `options`, prints `usage` for --help,
 * and runs `body` under runCommand (so usage errors exit 2 with the usage, other failures exit 1).
 */
export function managementCommand<T extends FlagSpecs>(
  name: string,
  usage: string,
  options: T,
  body: (flags: ParsedFlags<T>, io: CliIo) => Promise<number>,
): (argv: string[], io?: CliIo) => Promise<number> {
  return (argv, io = processIo) =>
    runCommand(name, usage, io, async () => {
      const flags = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
      if ((flags.values as { help?: boolean }).help) {
        io.out(usage);
        return 0;
      }
      return body(flags, io);
    });
}

/** Listing commands take flags only; a stray word is a usage error naming the command. */
export function noPositionals(name: string, positionals: readonly string[]): void {
  if (positionals.length > 0)
    throw new UsageError(`${name} takes no arguments; got ${positionals.join(' ')}`);
}
