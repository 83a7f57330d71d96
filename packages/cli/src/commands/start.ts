// `pagoda start`: the server on the embedded defaults (SQLite file and a private Redis under
// ./data unless DATABASE_URL / REDIS_URL say otherwise), running until SIGINT or SIGTERM.
import { parseArgs } from 'node:util';
import { startServer } from '@pagoda/server';

const HELP = `usage: pagoda start [--host HOST] [--port PORT] [--data-dir DIR] [--log-level LEVEL]

Environment: DATABASE_URL (default file:<data-dir>/pagoda.db), REDIS_URL (default: a private
redis-server under <data-dir>/redis), PAGODA_HOST, PAGODA_PORT, PAGODA_DATA_DIR.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const server = await startServer({
    host: values.host,
    port: values.port === undefined ? undefined : Number(values.port),
    dataDir: values['data-dir'],
    logLevel: values['log-level'] as never,
  });
  process.stdout.write(`Pagoda is running at ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
