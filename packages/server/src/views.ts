// Database rows as the API shows them (Xinference's field names).
import type { ModelView, ReplicaView, ReplicaState, InstanceState } from '@pagoda/protocol';
import { modelTypeOf } from './catalog/architecture.ts';
import type { InstanceParams } from './launcher.ts';

interface ReplicaRow {
  id: string;
  index: number;
  workerId: string | null;
  gpuIndices: unknown;
  memoryBytes: bigint;
  status: string;
  progress: number;
  restarts: number;
  lastError: string | null;
  port: number | null;
  worker?: { address: string } | null;
}

interface InstanceRow {
  uid: string;
  modelName: string;
  engine: string;
  format: string | null;
  sizeInBillions: number | null;
  quantization: string | null;
  desiredReplicas: number;
  status: string;
  lastError: string | null;
  params: unknown;
  createdAt: Date;
  replicas: ReplicaRow[];
}

export function replicaView(r: ReplicaRow): ReplicaView {
  return {
    replica_id: r.id,
    index: r.index,
    worker: r.workerId,
    gpu_idx: r.gpuIndices as number[],
    memory_bytes_per_gpu: Number(r.memoryBytes),
    status: r.status as ReplicaState,
    progress: r.progress,
    restarts: r.restarts,
    last_error: r.lastError,
    address: r.worker && r.port ? `${r.worker.address}:${r.port}` : null,
  };
}

export function modelView(i: InstanceRow): ModelView {
  const p = i.params as InstanceParams;
  return {
    model_uid: i.uid,
    model_name: i.modelName,
    model_type: p.arch ? modelTypeOf(p.arch.architecture) : 'LLM',
    model_engine: i.engine,
    model_format: i.format,
    model_size_in_billions: i.sizeInBillions,
    quantization: i.quantization,
    replica: i.desiredReplicas,
    status: i.status as InstanceState,
    last_error: i.lastError,
    engine_kwargs: { ...p.engine_kwargs, ...(p.request_limits != null ? { request_limits: p.request_limits } : {}) },
    replicas: [...i.replicas].sort((a, b) => a.index - b.index).map(replicaView),
    created_at: i.createdAt.toISOString(),
  };
}

/** Overall start progress: the mean over the desired replicas (missing ones count as 0). */
export function instanceProgress(i: InstanceRow): number {
  if (i.desiredReplicas === 0) return 1;
  const sum = i.replicas.filter((r) => r.status !== 'lost').reduce((s, r) => s + (r.status === 'ready' ? 1 : r.progress), 0);
  return Math.min(1, sum / i.desiredReplicas);
}
