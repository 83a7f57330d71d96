// `pagoda workers`: the host agents in the cluster, their state and last heartbeat.
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
import { formatTable } from '../format/table.ts';

const USAGE = `usage: pagoda workers [--json]

Lists the workers: address, state, GPUs, replicas and last heartbeat.
${CONNECTION_HELP}
`;

function ago(iso: unknown, now: number): string | null {
  if (typeof iso !== 'string') return null;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  const s = Math.max(0, Math.round((now - t) / 1000));
  return s < 120
    ? `${s}s ago`
    : s < 7200
      ? `${Math.round(s / 60)}m ago`
      : `${Math.round(s / 3600)}h ago`;
}

export async function run(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCommand('workers', USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...CONNECTION_FLAGS, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length > 0)
      throw new UsageError(`workers takes no arguments; got ${positionals.join(' ')}`);
    const workers = await clientFrom(values, io).workers();
    if (values.json) {
      io.out(`${JSON.stringify(workers, null, 2)}\n`);
      return 0;
    }
    if (workers.length === 0) {
      io.out('No workers have joined. Start one with `pagoda worker --server URL --redis URL`.\n');
      return 0;
    }
    const now = Date.now();
    const rows = workers.map((w) => {
      const devices = Array.isArray(w.devices)
        ? (w.devices as Array<{ kind?: string; declared?: boolean }>).filter(
            (d) => d.kind !== 'cpu',
          )
        : null;
      const gpus =
        typeof w.gpus === 'number'
          ? String(w.gpus)
          : devices
            ? `${devices.length}${devices.some((d) => d.declared) ? ' (declared)' : ''}`
            : null;
      const replicas =
        typeof w.replicas === 'number'
          ? w.replicas
          : Array.isArray(w.replicas)
            ? w.replicas.length
            : null;
      return [
        w.worker ?? w.worker_id ?? '-',
        w.host,
        w.address,
        w.status,
        gpus,
        replicas,
        ago(w.last_heartbeat, now),
      ];
    });
    io.out(
      formatTable(['WORKER', 'HOST', 'ADDRESS', 'STATUS', 'GPUS', 'REPLICAS', 'HEARTBEAT'], rows),
    );
    return 0;
  });
}
