// `pagoda devices`: every GPU in the cluster with its memory in use, claimed by Pagoda, and total.
import type { ClusterDevice } from '@pagoda/client';
import { CONNECTION_HELP } from '../command-options.ts';
import { formatBytes } from '../format/bytes.ts';
import { listingCommand, printListing } from '../list-output.ts';

const USAGE = `usage: pagoda devices [--all] [--json]

Lists the cluster's GPUs: memory used (as the driver reports it), claimed by launched replicas, total.
  --all    list each worker's CPU too
${CONNECTION_HELP}
`;

/** Devices come flat ({worker, index, ...}) or grouped per worker ({worker_id, devices: [...]}). */
export function flattenDevices(list: unknown[]): ClusterDevice[] {
  return list.flatMap((item) => {
    const group = item as { worker_id?: string; worker?: string; devices?: unknown };
    if (Array.isArray(group.devices))
      return (group.devices as ClusterDevice[]).map((d) => ({
        ...d,
        worker: d.worker ?? group.worker_id ?? group.worker,
      }));
    return [item as ClusterDevice];
  });
}

export const run = listingCommand(
  'devices',
  USAGE,
  { all: { type: 'boolean' } },
  async (values, client, io) => {
    const devices = flattenDevices(await client.devices()).filter(
      (d) => values.all || (d.kind !== 'cpu' && d.index >= 0),
    );
    return printListing(io, devices, {
      json: values.json,
      empty: 'No GPUs in the cluster.\n',
      headers: ['WORKER', 'GPU', 'NAME', 'USED', 'CLAIMED', 'TOTAL', 'UTIL'],
      row: (d) => [
        d.worker,
        d.index < 0 ? 'cpu' : d.index,
        `${d.name ?? '-'}${d.declared ? ' (declared)' : ''}`,
        formatBytes(d.memory_used),
        formatBytes(d.memory_claimed),
        formatBytes(d.memory_total),
        typeof d.utilization === 'number' ? `${d.utilization}%` : null,
      ],
    });
  },
);
