// `pagoda workers`: the host agents in the cluster, their state and last heartbeat.
import { CONNECTION_HELP } from '../command-options.ts';
import type { WorkerView } from '@pagoda/client';
import { listingCommand, printListing } from '../list-output.ts';

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

export const run = listingCommand('workers', USAGE, {}, async (values, client, io) => {
  // Pagoda sends WorkerView; Xinference-style servers name the worker worker_id and list devices
  // and replicas instead of counting them, which reads the same here.
  const workers: Array<
    Omit<Partial<WorkerView>, 'replicas'> & {
      worker_id?: string;
      devices?: unknown;
      replicas?: number | unknown[];
    }
  > = await client.workers();
  const now = Date.now();
  return printListing(io, workers, {
    json: values.json,
    empty: 'No workers have joined. Start one with `pagoda worker --server URL --redis URL`.\n',
    headers: ['WORKER', 'HOST', 'ADDRESS', 'STATUS', 'GPUS', 'REPLICAS', 'HEARTBEAT'],
    row: (w) => {
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
    },
  });
});
