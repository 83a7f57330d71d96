// `pagoda devices`: every GPU in the cluster with its memory in use, claimed by Pagoda, and total.
import { parseArgs } from 'node:util';
import type { DeviceView } from '../client.ts';
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  processIo,
  runCommand,
  UsageError,
  type CliIo,
} from '../cli-io.ts';
import { formatBytes } from '../format/bytes.ts';
import { formatTable } from '../format/table.ts';

const USAGE = `usage: pagoda devices [--all] [--json]

Lists the cluster's GPUs: memory used (as the driver reports it), claimed by launched replicas, total.
  --all    list each worker's CPU too
${CONNECTION_HELP}
`;

/** Devices come flat ({worker, index, ...}) or grouped per worker ({worker_id, devices: [...]}). */
export function flattenDevices(list: unknown[]): DeviceView[] {
  return list.flatMap((item) => {
    const group = item as { worker_id?: string; worker?: string; devices?: unknown };
    if (Array.isArray(group.devices))
      return (group.devices as DeviceView[]).map((d) => ({
        worker: group.worker_id ?? group.worker,
        ...d,
      }));
    return [item as DeviceView];
  });
}

export async function run(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCommand('devices', USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...CONNECTION_FLAGS, all: { type: 'boolean' }, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length > 0)
      throw new UsageError(`devices takes no arguments; got ${positionals.join(' ')}`);
    const devices = flattenDevices(await clientFrom(values, io).devices()).filter(
      (d) => values.all || (d.kind !== 'cpu' && d.index >= 0),
    );
    if (values.json) {
      io.out(`${JSON.stringify(devices, null, 2)}\n`);
      return 0;
    }
    if (devices.length === 0) {
      io.out('No GPUs in the cluster.\n');
      return 0;
    }
    const rows = devices.map((d) => [
      d.worker ?? d.worker_id,
      d.index < 0 ? 'cpu' : d.index,
      `${d.name ?? '-'}${d.declared ? ' (declared)' : ''}`,
      formatBytes(d.memory_used),
      formatBytes(d.memory_claimed),
      formatBytes(d.memory_total),
      typeof d.utilization === 'number' ? `${d.utilization}%` : null,
    ]);
    io.out(formatTable(['WORKER', 'GPU', 'NAME', 'USED', 'CLAIMED', 'TOTAL', 'UTIL'], rows));
    return 0;
  });
}
