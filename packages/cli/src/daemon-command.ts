// What the commands that run until stopped (`pagoda start`, `pagoda worker`) share: flags without
// arguments, --help, and the wait for SIGINT or SIGTERM.
import { parseArgs } from 'node:util';
import type { FlagSpecs } from './command-options.ts';

type NoPositionals<T extends FlagSpecs> = {
  args: string[];
  options: T;
  strict: true;
  allowPositionals: false;
};

/** The typed values parseArgs gives for `T`. */
export type FlagValues<T extends FlagSpecs> = ReturnType<
  typeof parseArgs<NoPositionals<T>>
>['values'];

/** The flags' values; null once --help has printed `help`. Unknown flags and stray words throw. */
export function daemonFlags<T extends FlagSpecs>(
  argv: string[],
  options: T,
  help: string,
): FlagValues<T> | null {
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(help);
    return null;
  }
  return values;
}

/** Resolves at the first SIGINT or SIGTERM. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
