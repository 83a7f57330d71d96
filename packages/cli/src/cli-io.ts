// What a management command needs from its surroundings: where output goes, the environment, whether
// stdout and stdin are terminals, and standard input (the flags it shares live in command-options.ts).

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
