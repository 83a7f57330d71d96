// `pagoda terminate <uid>...`: stops every replica of each model and forgets it.
import { parseArgs } from 'node:util';
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  processIo,
  runCommand,
  UsageError,
  type CliIo,
} from '../cli-io.ts';

const USAGE = `usage: pagoda terminate <model_uid>... [--model-uid UID]

Terminates launched models (all their replicas).
${CONNECTION_HELP}
`;

export async function run(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCommand('terminate', USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...CONNECTION_FLAGS, 'model-uid': { type: 'string', short: 'u', multiple: true } },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    const uids = [...positionals, ...(values['model-uid'] ?? [])];
    if (uids.length === 0)
      throw new UsageError('name the model uid to terminate (see `pagoda list`)');
    const client = clientFrom(values, io);
    for (const uid of uids) {
      await client.terminate(uid);
      io.out(`Terminated ${uid}\n`);
    }
    return 0;
  });
}
