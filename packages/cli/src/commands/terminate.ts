// `pagoda terminate <uid>...`: stops every replica of each model and forgets it.
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  managementCommand,
  UsageError,
} from '../command-options.ts';

const USAGE = `usage: pagoda terminate <model_uid>... [--model-uid UID]

Terminates launched models (all their replicas).
${CONNECTION_HELP}
`;

export const run = managementCommand(
  'terminate',
  USAGE,
  { ...CONNECTION_FLAGS, 'model-uid': { type: 'string', short: 'u', multiple: true } },
  async ({ values, positionals }, io) => {
    const uids = [...positionals, ...(values['model-uid'] ?? [])];
    if (uids.length === 0)
      throw new UsageError('name the model uid to terminate (see `pagoda list`)');
    const client = clientFrom(values, io);
    for (const uid of uids) {
      await client.terminate(uid);
      io.out(`Terminated ${uid}\n`);
    }
    return 0;
  },
);
