// What a management command needs from its surroundings: where output goes, the environment, whether
// stdout is a terminal, and the client built from --endpoint / --api-key (or PAGODA_ENDPOINT / PAGODA_API_KEY).
import { PagodaApiError, PagodaClient } from './client.ts';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  isTTY: boolean;
  stdinIsTTY: boolean;
  /** Standard input as text (chat without --message reads it when it is not a terminal). */
  readStdin(): Promise<string>;
  fetch?: typeof fetch;
}

export const processIo: CliIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  env: process.env,
  isTTY: Boolean(process.stdout.isTTY),
  stdinIsTTY: Boolean(process.stdin.isTTY),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

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
    { endpoint: values.endpoint, apiKey: values['api-key'], fetch: io.fetch },
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
