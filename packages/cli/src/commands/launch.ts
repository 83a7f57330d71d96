// `pagoda launch <model>`: POST /v1/models, then a progress bar until the model is ready or failed.
import { clientFrom, managementCommand, numberFlag } from '../command-options.ts';
import { LAUNCH_FLAGS, LAUNCH_FLAGS_HELP, launchBody, type LaunchValues } from '../launch-flags.ts';
import { waitReady } from '../wait-ready.ts';

const FLAGS = {
  ...LAUNCH_FLAGS,
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
} as const;

const USAGE = `usage: pagoda launch <model_name> [flags]

Launches a model on the cluster and follows it to ready with a progress bar (Ctrl-C stops following,
not the launch; \`pagoda terminate <uid>\` stops it).

${LAUNCH_FLAGS_HELP}
  --no-wait                       print the uid and return at once
  --timeout S                     stop following after S seconds (default 1800)
`;

export const run = managementCommand(
  'launch',
  USAGE,
  FLAGS,
  async ({ values, positionals }, io) => {
    const body = launchBody(values as LaunchValues, positionals);
    const timeoutS = numberFlag(values.timeout, 'timeout') ?? 1800;
    const client = clientFrom(values, io);
    const { model_uid: uid } = await client.launch(body);
    if (values['no-wait']) {
      io.out(`${uid}\n`);
      return 0;
    }
    io.out(`Launching ${body.model_name} as ${uid}\n`);
    return waitReady(client, uid, io, {
      timeoutS,
      intervalMs: Number(io.env.PAGODA_POLL_MS ?? 500),
    });
  },
);
