// `pagoda worker --server URL --redis URL`: the host agent of one machine, running until SIGINT or SIGTERM.
import { startWorker } from '@pagoda/worker';
import { daemonFlags, untilStopSignal } from '../daemon-command.ts';
import { commandLogger } from '../log-output.ts';

const HELP = `usage: pagoda worker --server URL --redis URL [--name ID] [--devices JSON] [--host ADDR] [--address ADDR]
                     [--prefix P] [--heartbeat-ms N] [--cache-dir DIR] [--max-restarts N] [--log-level LEVEL]

Finds this machine's GPUs (nvidia-smi), registers with the server through Redis, and runs the model
replicas the server places here. On a machine without GPUs, --devices declares an inventory, e.g.
  --devices '[{"name":"GPU","memory_total":25769803776},{"name":"GPU","memory_total":25769803776}]'
and the runners placed on it use the CPU engine.

  --host      address runners bind to (default 127.0.0.1; 0.0.0.0 when the server runs elsewhere)
  --address   address the server reaches runners on (default: --host, or this machine's IPv4)
Environment: PAGODA_SERVER_URL, REDIS_URL, PAGODA_WORKER_NAME, PAGODA_DEVICES, PAGODA_REDIS_PREFIX,
PAGODA_RUNNER_EXTRA_ARGS (flags added to every runner's command line).
`;

export async function run(argv: string[]): Promise<number> {
  const values = daemonFlags(
    argv,
    {
      server: { type: 'string' },
      redis: { type: 'string' },
      name: { type: 'string' },
      devices: { type: 'string' },
      host: { type: 'string' },
      address: { type: 'string' },
      prefix: { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'cache-dir': { type: 'string' },
      'max-restarts': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP,
  );
  if (!values) return 0;
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const worker = await startWorker(
    {
      serverUrl: values.server,
      redisUrl: values.redis,
      name: values.name,
      devices: values.devices,
      host: values.host,
      address: values.address,
      prefix: values.prefix,
      heartbeatMs: num(values['heartbeat-ms']),
      cacheDir: values['cache-dir'],
      maxRestarts: num(values['max-restarts']),
      logLevel: values['log-level'] as never,
    },
    commandLogger('pagoda-worker', values['log-level'] ?? process.env.PAGODA_LOG_LEVEL),
  );
  process.stdout.write(`Pagoda worker '${worker.id}' is running\n`);
  await untilStopSignal();
  await worker.close();
  return 0;
}
