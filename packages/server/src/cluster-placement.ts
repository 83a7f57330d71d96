// Where replicas go, decided and recorded in ONE transaction: the cluster's devices and existing
// claims are read, the planner places the replicas by free memory, and the claims are written
// before anyone else may read them (PostgreSQL: an advisory transaction lock; one server process:
// an in-process queue), so no GPU is ever over-committed.
import { planProblemMessage, type PlanProblem } from '@pagoda/protocol';
import type { Database, Db } from '@pagoda/db';
import { CPU_DEVICE_INDEX, type Device } from '@pagoda/protocol';
import { DTYPE_BYTES, ENGINE_CAPABILITIES, parameterCount, type ArchNumbers, type EngineName } from './catalog/index.ts';
import { HttpError } from './http-error.ts';
import { plan, PlanInputError, resolveParams, kvBytesPerToken, type PlannerDeviceInput, type Plan, type PlanParamsInput } from './planner/index.ts';

type Tx = Omit<Db, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;

export interface PlacementInput {
  arch: ArchNumbers;
  weightsBytes?: number;
  contextLength?: number;
  params: PlanParamsInput;
  replicas: number;
  /** GPUs per replica: null = decide (a GPU when the cluster has one, else the CPU); 0 = the CPU. */
  nGpu: number | 'auto' | null;
  workerIp?: string | null;
  gpuIdx?: number[] | null;
  /** The engine that will run it: the plan suggests only what it can do. */
  engine: EngineName;
}

export interface PlacedReplica {
  worker: string;
  gpuIndices: number[];
  /** Bytes claimed on each of gpuIndices (or on the CPU, index -1, when gpuIndices is empty). */
  bytes: number;
}

export type Placement =
  | { ok: true; cpu: boolean; plan: Plan | null; replicas: PlacedReplica[]; message: string }
  /** problem_details: why, as values (the GPU plan's, or the CPU placement's own). */
  | { ok: false; plan: Plan | null; message: string; problem_details: PlanProblem[] };

const LOCK_ID = 7_406_190_512;
let chain: Promise<unknown> = Promise.resolve();

/** Runs `body` in one transaction that no other placement interleaves with. */
export function placementTransaction<T>(db: Database, body: (tx: Tx) => Promise<T>): Promise<T> {
  const run = () =>
    db.prisma.$transaction(
      async (tx) => {
        if (db.provider === 'postgresql') await tx.$queryRawUnsafe(`SELECT 1 AS locked FROM pg_advisory_xact_lock(${LOCK_ID})`);
        return body(tx);
      },
      { maxWait: 30_000, timeout: 30_000 },
    );
  const next = chain.then(run, run);
  chain = next.catch(() => {});
  return next;
}

interface ClusterWorker {
  id: string;
  address: string;
  devices: Device[];
}

async function aliveWorkers(tx: Tx): Promise<ClusterWorker[]> {
  const rows = await tx.worker.findMany({ where: { status: 'alive' }, orderBy: { id: 'asc' } });
  return rows.map((w) => ({ id: w.id, address: w.address, devices: w.devices as unknown as Device[] }));
}

async function claimedBytes(tx: Tx): Promise<Map<string, number>> {
  const claims = await tx.gpuClaim.findMany({ select: { workerId: true, gpuIndex: true, memoryBytes: true } });
  const out = new Map<string, number>();
  for (const c of claims) out.set(`${c.workerId}#${c.gpuIndex}`, (out.get(`${c.workerId}#${c.gpuIndex}`) ?? 0) + Number(c.memoryBytes));
  return out;
}

function planDevices(workers: ClusterWorker[], claimed: Map<string, number>): PlannerDeviceInput[] {
  return workers.flatMap((w) =>
    w.devices
      .filter((d) => d.kind === 'gpu')
      .map((d) => ({ worker: w.id, worker_ip: w.address, index: d.index, name: d.name, total: d.memory_total, used: d.declared ? 0 : d.memory_used, claimed: claimed.get(`${w.id}#${d.index}`) ?? 0 })),
  );
}

/** A CPU replica holds its weights and one max_model_len of KV cache in host memory. */
function cpuBytes(input: PlacementInput): number {
  const params = resolveParams(input.params, input.arch, input.contextLength);
  const weights = input.weightsBytes ?? parameterCount(input.arch) * DTYPE_BYTES[input.arch.dtype];
  return weights + kvBytesPerToken(input.arch, { tensor_parallel_size: 1, kv_element_bytes: DTYPE_BYTES[input.arch.dtype] }) * params.max_model_len;
}

function placeOnCpu(workers: ClusterWorker[], claimed: Map<string, number>, input: PlacementInput): Placement {
  const need = cpuBytes(input);
  let pool = workers;
  if (input.workerIp) pool = pool.filter((w) => w.id === input.workerIp || w.address === input.workerIp);
  if (pool.length === 0) {
    const problem: PlanProblem = input.workerIp ? { kind: 'no_worker', worker: input.workerIp, workers: workers.map((w) => w.id) } : { kind: 'no_workers' };
    return { ok: false, plan: null, message: input.workerIp ? `no live worker '${input.workerIp}'` : planProblemMessage(problem), problem_details: [problem] };
  }
  const pending = new Map<string, number>();
  const replicas: PlacedReplica[] = [];
  for (let i = 0; i < input.replicas; i++) {
    const rooms = pool.map((w) => {
      const cpu = w.devices.find((d) => d.kind === 'cpu');
      const room = (cpu?.memory_total ?? 0) - (claimed.get(`${w.id}#${CPU_DEVICE_INDEX}`) ?? 0) - (pending.get(w.id) ?? 0);
      return { w, room };
    });
    rooms.sort((a, b) => b.room - a.room);
    const best = rooms[0]!;
    if (best.room < need) {
      const problem: PlanProblem = { kind: 'cpu_memory', worker: best.w.id, need, room: best.room, short: need - best.room };
      return { ok: false, plan: null, message: `The model does not fit on the CPU: ${planProblemMessage(problem)}`, problem_details: [problem] };
    }
    pending.set(best.w.id, (pending.get(best.w.id) ?? 0) + need);
    replicas.push({ worker: best.w.id, gpuIndices: [], bytes: need });
  }
  return { ok: true, cpu: true, plan: null, replicas, message: `fits on the CPU of ${replicas.map((r) => r.worker).join(', ')}` };
}

/** Plans against the cluster as `tx` sees it; writes nothing. */
export async function placeOnCluster(tx: Tx, input: PlacementInput): Promise<Placement> {
  const workers = await aliveWorkers(tx);
  const claimed = await claimedBytes(tx);
  const hasGpu = workers.some((w) => w.devices.some((d) => d.kind === 'gpu'));
  const gpus = input.nGpu === 'auto' || input.nGpu === null ? (hasGpu ? null : 0) : input.nGpu;
  if (gpus === 0) {
    if (input.gpuIdx?.length) throw new HttpError(400, 'gpu_idx was given with n_gpu 0 (the CPU); drop one of them', 'gpu_idx');
    return placeOnCpu(workers, claimed, input);
  }
  const tp = input.params.tensor_parallel_size ?? gpus ?? 1;
  if (gpus !== null && tp !== gpus) throw new HttpError(400, `n_gpu ${gpus} and tensor_parallel_size ${tp} disagree: each replica uses tensor_parallel_size GPUs; give one of them`, 'n_gpu');
  if (input.gpuIdx && input.gpuIdx.length < tp) {
    throw new HttpError(400, `gpu_idx lists ${input.gpuIdx.length} GPU(s) but each replica needs ${tp}`, 'gpu_idx');
  }
  let result: Plan;
  try {
    result = plan({
      model: { arch: input.arch, weights_bytes: input.weightsBytes, context_length: input.contextLength },
      params: { ...input.params, tensor_parallel_size: tp },
      devices: planDevices(workers, claimed),
      replicas: input.replicas,
      worker_ip: input.workerIp,
      gpu_idx: input.gpuIdx,
      engine: ENGINE_CAPABILITIES[input.engine],
    });
  } catch (err) {
    if (err instanceof PlanInputError) throw new HttpError(400, err.message, err.param, {}, 'invalid_request', { issues: err.issue ? [err.issue] : [] });
    throw err;
  }
  if (!result.fits) return { ok: false, plan: result, message: result.message, problem_details: result.problem_details };
  const replicas = result.replicas.map((r) => ({ worker: r.worker, gpuIndices: r.gpu_indices, bytes: r.gpus[0]!.claim }));
  return { ok: true, cpu: false, plan: result, replicas, message: result.message };
}

/** Records the claims of placed replicas (inside the placement transaction). */
export async function recordClaims(tx: Tx, replicaId: string, placed: PlacedReplica): Promise<void> {
  const indices = placed.gpuIndices.length > 0 ? placed.gpuIndices : [CPU_DEVICE_INDEX];
  for (const gpuIndex of indices) {
    await tx.gpuClaim.create({ data: { workerId: placed.worker, gpuIndex, replicaId, memoryBytes: BigInt(placed.bytes) } });
  }
}

export type { Tx };
