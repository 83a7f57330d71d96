// `pagoda unregister <name>...`: removes custom registrations (built-in models cannot be removed).
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  managementCommand,
  UsageError,
} from '../command-options.ts';

const USAGE = `usage: pagoda unregister <model_name>... [--model-type TYPE]

Removes custom model registrations.
${CONNECTION_HELP}
`;

export const run = managementCommand(
  'unregister',
  USAGE,
  {
    ...CONNECTION_FLAGS,
    'model-name': { type: 'string', short: 'n', multiple: true },
    'model-type': { type: 'string' },
  },
  async ({ values, positionals }, io) => {
    const names = [...positionals, ...(values['model-name'] ?? [])];
    if (names.length === 0)
      throw new UsageError('name the registration to remove (see `pagoda registrations --custom`)');
    const client = clientFrom(values, io);
    for (const name of names) {
      await client.unregister(name, values['model-type'] ?? 'LLM');
      io.out(`Unregistered ${name}\n`);
    }
    return 0;
  },
);
