// `pagoda start`: the server on the embedded defaults (SQLite file and a private Redis under
// ./data unless DATABASE_URL / REDIS_URL say otherwise), running until SIGINT or SIGTERM.
import { startServer, type RunningServer } from '@pagoda/server';
import { startWorker } from '@pagoda/worker';
import { daemonFlags, untilStopSignal } from '../daemon-command.ts';
import { commandLogger } from '../log-output.ts';

const HELP = `usage: pagoda start [--host HOST] [--port PORT] [--data-dir DIR] [--log-level LEVEL] [--no-worker] [--devices JSON]

Environment: DATABASE_URL (default file:<data-dir>/pagoda.db), REDIS_URL (default: a private
redis-server under <data-dir>/redis), PAGODA_HOST, PAGODA_PORT, PAGODA_DATA_DIR, PAGODA_ADMIN_KEY.
A local worker starts in the same process unless --no-worker; --devices declares GPUs on a machine
without them (see pagoda worker --help).
`;

export async function run(argv: string[]): Promise<number> {
  const values = daemonFlags(
    argv,
    {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'no-worker': { type: 'boolean' },
      devices: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP,
  );
  if (!values) return 0;
  const level = values['log-level'] ?? process.env.PAGODA_LOG_LEVEL;
  const server = await startServer(
    {
      host: values.host,
      port: values.port === undefined ? undefined : Number(values.port),
      dataDir: values['data-dir'],
      logLevel: level as never,
    },
    commandLogger('pagoda-server', level),
  );
  // One local worker in this process: it finds this machine's GPUs (or uses --devices) and runs replicas.
  const worker = values['no-worker']
    ? null
    : await startWorker(
        { serverUrl: server.url, redisUrl: server.redisUrl, devices: values.devices, logLevel: (level ?? 'info') as never },
        commandLogger('pagoda-worker', level),
      ).catch(async (err: Error) => {
        await server.close();
        throw err;
      });
  // "Running" means a launch can be placed: the worker registers through its first heartbeat, which the
  // server takes in asynchronously, so wait until the server has it.
  if (worker) await untilRegistered(server, worker.id);
  process.stdout.write(`Pagoda is running at ${server.url}${worker ? ` with local worker '${worker.id}'` : ''}\n`);
  await untilStopSignal();
  await worker?.close();
  await server.close();
  // close() waits only briefly for work in flight; a database query it left running must not keep
  // the process alive.
  process.exit(0);
}

/** Waits (at most 30 s, then goes on: the worker's later heartbeats still register it) until the server knows `id`. */
async function untilRegistered(server: RunningServer, id: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const row = await server.platform.db.prisma.worker.findUnique({ where: { id } });
    if (row?.status === 'alive') return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
