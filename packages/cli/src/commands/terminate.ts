// `pagoda terminate <uid>...`: stops every replica of each model and forgets it.
import {
  actOnEach,
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  managementCommand,
  namesGiven,
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
    const uids = namesGiven(
      positionals,
      values['model-uid'],
      'name the model uid to terminate (see `pagoda list`)',
    );
    const client = clientFrom(values, io);
    return actOnEach(io, uids, 'Terminated', (uid) => client.terminate(uid));
  },
);
