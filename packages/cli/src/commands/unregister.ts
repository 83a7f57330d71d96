// `pagoda unregister <name>...`: removes custom registrations (built-in models cannot be removed).
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

const USAGE = `usage: pagoda unregister <model_name>... [--model-type TYPE]

Removes custom model registrations.
${CONNECTION_HELP}
`;

export async function run(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCommand('unregister', USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_FLAGS,
        'model-name': { type: 'string', short: 'n', multiple: true },
        'model-type': { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    const names = [...positionals, ...(values['model-name'] ?? [])];
    if (names.length === 0)
      throw new UsageError('name the registration to remove (see `pagoda registrations --custom`)');
    const client = clientFrom(values, io);
    for (const name of names) {
      await client.unregister(name, values['model-type'] ?? 'LLM');
      io.out(`Unregistered ${name}\n`);
    }
    return 0;
  });
}
