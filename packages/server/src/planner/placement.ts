// Chooses workers and GPUs for replicas by available memory (not by model count): each replica takes
// tensor_parallel_size GPUs of one worker, the ones with the most room, on the worker left roomiest;
// explicit worker_ip / gpu_idx narrow the choice. Claims accumulate, so replicas may share a GPU.
import { mergePlanProblems, type PlanProblem } from '@pagoda/protocol';
import { z } from 'zod';

export const PlannerDeviceSchema = z.object({
  /** The worker's id. */
  worker: z.string().min(1),
  /** The worker's address, matched by worker_ip as well as the id. */
  worker_ip: z.string().optional(),
  index: z.number().int().nonnegative(),
  name: z.string().optional(),
  total: z.number().nonnegative(),
  /** Reported in use (nvidia-smi), by anything. */
  used: z.number().nonnegative().default(0),
  /** Claimed by replicas Pagoda placed here (some may not have started yet). */
  claimed: z.number().nonnegative().default(0),
});
export type PlannerDevice = z.output<typeof PlannerDeviceSchema>;
export type PlannerDeviceInput = z.input<typeof PlannerDeviceSchema>;

/**
 * Bytes a new claim may take. Our own running replicas appear both in `used` and in `claimed`, so the
 * larger of the two is what is taken (a process outside Pagoda shows only in `used`).
 */
export function availableBytes(d: PlannerDevice): number {
  return Math.max(0, d.total - Math.max(d.used, d.claimed));
}

export interface PlacementRequest {
  tensorParallelSize: number;
  replicas: number;
  workerIp?: string | null;
  gpuIdx?: readonly number[] | null;
  /** Bytes one shard claims on this device (it may depend on the device's total). */
  claimOn(device: PlannerDevice): number;
  /** Why a shard cannot run on this device whatever its room (e.g. too small a GPU), or null. */
  unusable?(device: PlannerDevice): PlanProblem | null;
}

export interface ReplicaPlacement {
  replica: number;
  worker: string;
  gpu_indices: number[];
  /** Bytes each chosen GPU had available before this replica's claim (same order as gpu_indices). */
  available_before: number[];
}

/** Bytes this placement claims per GPU, summed over its replicas. */
export interface GpuClaimBytes {
  worker: string;
  index: number;
  bytes: number;
}

export type PlacementResult =
  | { ok: true; replicas: ReplicaPlacement[]; claims: GpuClaimBytes[] }
  | { ok: false; placed: ReplicaPlacement[]; reasons: PlanProblem[] };

const key = (d: Pick<PlannerDevice, 'worker' | 'index'>) => `${d.worker}#${d.index}`;

/** The devices a request may use, or the reason none may. */
export function eligibleDevices(
  devices: readonly PlannerDevice[],
  req: Pick<PlacementRequest, 'workerIp' | 'gpuIdx'>,
): { devices: PlannerDevice[]; reason?: PlanProblem } {
  let pool = [...devices];
  if (req.workerIp) {
    pool = pool.filter((d) => d.worker === req.workerIp || d.worker_ip === req.workerIp);
    if (pool.length === 0) {
      const workers = [
        ...new Set(devices.map((d) => (d.worker_ip ? `${d.worker} (${d.worker_ip})` : d.worker))),
      ];
      return { devices: [], reason: { kind: 'no_worker', worker: req.workerIp, workers } };
    }
  }
  if (req.gpuIdx && req.gpuIdx.length > 0) {
    const wanted = new Set(req.gpuIdx);
    const before = pool;
    pool = pool.filter((d) => wanted.has(d.index));
    const missing = req.gpuIdx.filter((i) => !before.some((d) => d.index === i));
    if (missing.length > 0)
      return { devices: [], reason: { kind: 'no_gpu_idx', gpu_idx: missing, worker: req.workerIp ?? null } };
  }
  return { devices: pool };
}

function groupByWorker(devices: readonly PlannerDevice[]): Map<string, PlannerDevice[]> {
  const out = new Map<string, PlannerDevice[]>();
  for (const d of devices) out.set(d.worker, [...(out.get(d.worker) ?? []), d]);
  return out;
}

/** Places every replica or explains, per worker, why the next one found no room. */
export function placeReplicas(devices: readonly PlannerDevice[], req: PlacementRequest): PlacementResult {
  const { devices: pool, reason } = eligibleDevices(devices, req);
  if (reason) return { ok: false, placed: [], reasons: [reason] };
  // Claims made by this call, kept apart: adding them to `claimed` could hide them under a larger `used`.
  const pending = new Map<string, number>();
  const room = (d: PlannerDevice) => availableBytes(d) - (pending.get(key(d)) ?? 0);
  const placed: ReplicaPlacement[] = [];
  const t = req.tensorParallelSize;

  for (let replica = 0; replica < req.replicas; replica++) {
    let best: { worker: string; chosen: PlannerDevice[]; slack: number } | null = null;
    const reasons: PlanProblem[] = [];
    for (const [worker, all] of groupByWorker(pool)) {
      const unusable = all
        .map((d) => req.unusable?.(d) ?? null)
        .filter((r): r is PlanProblem => r !== null);
      const gpus = all.filter((d) => !req.unusable?.(d));
      if (unusable.length > 0 && gpus.length < t) {
        reasons.push(...mergePlanProblems(unusable));
        continue;
      }
      if (gpus.length < t) {
        reasons.push({ kind: 'too_few_gpus', worker, eligible: gpus.length, tensor_parallel_size: t });
        continue;
      }
      const roomy = gpus
        .map((d) => ({ d, room: room(d) - req.claimOn(d) }))
        .filter((x) => x.room >= 0)
        .sort((a, b) => b.room - a.room || a.d.index - b.d.index);
      if (roomy.length < t) {
        const short = gpus.filter((d) => room(d) < req.claimOn(d));
        reasons.push(
          ...mergePlanProblems(
            short.map((d) => ({
              kind: 'gpu_short' as const,
              worker,
              gpus: [d.index],
              total: d.total,
              available: room(d),
              claim: req.claimOn(d),
              short: req.claimOn(d) - room(d),
            })),
          ),
        );
        continue;
      }
      const chosen = roomy.slice(0, t);
      const slack = Math.min(...chosen.map((x) => x.room));
      if (!best || slack > best.slack) best = { worker, chosen: chosen.map((x) => x.d), slack };
    }
    if (!best)
      return {
        ok: false,
        placed,
        reasons: reasons.length > 0 ? reasons : [{ kind: 'no_eligible_gpus' }],
      };
    const chosen = [...best.chosen].sort((a, b) => a.index - b.index);
    placed.push({
      replica,
      worker: best.worker,
      gpu_indices: chosen.map((d) => d.index),
      available_before: chosen.map(room),
    });
    for (const d of best.chosen) pending.set(key(d), (pending.get(key(d)) ?? 0) + req.claimOn(d));
  }
  return {
    ok: true,
    replicas: placed,
    claims: [...pending].map(([k, bytes]) => ({
      worker: k.slice(0, k.lastIndexOf('#')),
      index: Number(k.slice(k.lastIndexOf('#') + 1)),
      bytes,
    })),
  };
}
