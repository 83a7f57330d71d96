// `pagoda unregister <name>...`: removes custom registrations (built-in models cannot be removed).
import {
  actOnEach,
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  managementCommand,
  namesGiven,
} from '../command-options.ts';

const USAGE = `usage: pagoda unregister <model_name>... [-t|--model-type TYPE]

Removes custom model registrations.
${CONNECTION_HELP}
`;

export const run = managementCommand(
  'unregister',
  USAGE,
  {
    ...CONNECTION_FLAGS,
    'model-name': { type: 'string', short: 'n', multiple: true },
    'model-type': { type: 'string', short: 't' },
  },
  async ({ values, positionals }, io) => {
    const names = namesGiven(
      positionals,
      values['model-name'],
      'name the registration to remove (see `pagoda registrations --custom`)',
    );
    const client = clientFrom(values, io);
    const type = values['model-type'] ?? 'LLM';
    return actOnEach(io, names, 'Unregistered', (name) => client.unregister(name, type));
  },
);
