// Launch, scale and terminate: validate, resolve, place and claim in one transaction, then enqueue
// the jobs. The instance row is the desired state; the reconcile loop keeps replicas matching it.
import type { Database } from '@pagoda/db';
import { kvBytesPerToken } from './planner/index.ts';
import { ENGINE_KWARGS, type LaunchJob, type LaunchRequest } from '@pagoda/protocol';
import { normalizeEngine, type ArchNumbers, type EngineName } from './catalog/index.ts';
import { newRunnerSecret } from './auth.ts';
import { HttpError } from './http-error.ts';
import type { JobQueues } from './job-queues.ts';
import type { PlatformMetrics } from './metrics.ts';
import { resolveLaunchModel, type ResolvedModel } from './model-resolve.ts';
import { instanceStatus } from './instance-status.ts';
import { placementTransaction, placeOnCluster, recordClaims, type Placement, type PlacementInput, type Tx } from './cluster-placement.ts';

/** What an instance row keeps in `params`: enough to place replicas again without the catalog. */
export interface InstanceParams {
  request: LaunchRequest;
  engine_kwargs: Record<string, unknown>;
  arch: ArchNumbers;
  weights_bytes: number | null;
  context_length: number;
  source: { model_path: string | null; hf_repo_id: string | null };
  request_limits: number | null;
  /** llama.cpp replicas: the bytes one claims per GPU (it sizes its own cache; see llamaCppClaimBytes). */
  claim_bytes?: number | null;
}

/** llama.cpp's context when none is asked for (the runner's default too). */
const LLAMACPP_DEFAULT_CONTEXT = 4096;
/** llama.cpp's default number of parallel sequences (the runner's --max-num-seqs default). */
const LLAMACPP_DEFAULT_SEQUENCES = 4;
/** Compute buffers and scratch llama.cpp allocates beside weights and KV cache. */
const LLAMACPP_OVERHEAD_BYTES = 512 * 2 ** 20;

/** What a llama.cpp replica holds on its GPU: the GGUF's tensors, an F16 KV cache for every sequence, buffers. */
export function llamaCppClaimBytes(arch: ArchNumbers, weightsBytes: number, contextLength: number, kwargs: Record<string, unknown>): number {
  const ctx = (kwargs.max_model_len as number | undefined) ?? Math.min(contextLength, LLAMACPP_DEFAULT_CONTEXT);
  const seqs = (kwargs.max_num_seqs as number | undefined) ?? LLAMACPP_DEFAULT_SEQUENCES;
  return weightsBytes + kvBytesPerToken(arch, { tensor_parallel_size: 1, kv_element_bytes: 2 }) * ctx * seqs + LLAMACPP_OVERHEAD_BYTES;
}

export function engineKwargs(req: LaunchRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ENGINE_KWARGS) if (req[k] !== undefined && req[k] !== null && k !== 'request_limits') out[k] = req[k];
  return out;
}

export function placementInput(p: InstanceParams, replicas: number, engine: EngineName): PlacementInput {
  return {
    engine,
    arch: p.arch,
    weightsBytes: p.weights_bytes ?? undefined,
    contextLength: p.context_length,
    params: { ...(p.engine_kwargs as PlacementInput['params']), fixed_claim_bytes: p.claim_bytes ?? null },
    replicas,
    nGpu: p.request.n_gpu ?? null,
    workerIp: p.request.worker_ip ?? null,
    gpuIdx: p.request.gpu_idx == null ? null : Array.isArray(p.request.gpu_idx) ? p.request.gpu_idx : [p.request.gpu_idx],
  };
}

/** The job a worker needs to start one replica; max_model_len as planned so the runner matches the claim. */
export function launchJob(instance: { uid: string; engine: string; params: unknown }, replica: { id: string; index: number; gpuIndices: unknown; runnerSecret: string | null }): LaunchJob {
  const p = instance.params as InstanceParams;
  return {
    kind: 'launch',
    replica_id: replica.id,
    model_uid: instance.uid,
    model_name: p.request.model_name,
    replica_index: replica.index,
    engine: instance.engine,
    source: { model_path: p.source.model_path, hf_repo_id: p.source.hf_repo_id, revision: null },
    gpu_idx: replica.gpuIndices as number[],
    engine_kwargs: p.engine_kwargs,
    runner_secret: replica.runnerSecret,
  };
}

export class Launcher {
  constructor(
    private readonly db: Database,
    private readonly queues: JobQueues,
    private readonly metrics: PlatformMetrics,
  ) {}

  /** POST /api/plan: the plan alone, nothing written. */
  async plan(req: LaunchRequest): Promise<{ model: ResolvedModel; placement: Placement }> {
    const model = await resolveLaunchModel(this.db, req);
    const placement = await placeOnCluster(this.db.prisma, placementInput(this.instanceParams(req, model), req.replica ?? 1, model.engine));
    return { model, placement };
  }

  private instanceParams(req: LaunchRequest, model: ResolvedModel): InstanceParams {
    return {
      request: req,
      // The registration's chat template travels to the runner; a checkpoint's own is found by the runner.
      engine_kwargs: {
        ...engineKwargs(req),
        // An unquantized checkpoint launched with quantization 'fp8': the runner quantizes it at load.
        ...(model.format === 'safetensors' && model.quantization !== 'none' ? { quantization: model.quantization } : {}),
        ...(model.family.chat_template ? { chat_template: model.family.chat_template } : {}),
        ...familyParsers(model.family),
      },
      arch: model.arch,
      weights_bytes: model.weightsBytes ?? null,
      context_length: model.contextLength,
      source: { model_path: model.modelPath, hf_repo_id: model.hfRepoId },
      request_limits: req.request_limits ?? null,
      claim_bytes: model.engine === 'llama.cpp' && model.weightsBytes !== undefined ? llamaCppClaimBytes(model.arch, model.weightsBytes, model.contextLength, engineKwargs(req)) : null,
    };
  }

  /** Creates replicas [from, from + count) of an instance on placed workers, claims included. */
  private async createReplicas(tx: Tx, instanceId: string, from: number, placement: Extract<Placement, { ok: true }>) {
    const out = [];
    for (const [i, placed] of placement.replicas.entries()) {
      const replica = await tx.replica.create({
        data: { instanceId, index: from + i, workerId: placed.worker, gpuIndices: placed.gpuIndices, memoryBytes: BigInt(placed.bytes), status: 'scheduled', runnerSecret: newRunnerSecret() },
      });
      await recordClaims(tx, replica.id, placed);
      out.push(replica);
    }
    return out;
  }

  private async enqueue(instance: { uid: string; engine: string; params: unknown }, replicas: Array<{ id: string; index: number; gpuIndices: unknown; workerId: string | null; runnerSecret: string | null }>): Promise<void> {
    // A job that cannot be queued now is re-sent by the reconcile loop (its replica stays 'scheduled').
    await Promise.all(replicas.map((r) => this.queues.launch(r.workerId!, launchJob(instance, r), 0).catch(() => {})));
  }

  async launch(req: LaunchRequest): Promise<{ uid: string; message: string }> {
    refuseUnsupportedXinferenceFields(req);
    this.queues.assertAvailable();
    const model = await resolveLaunchModel(this.db, req);
    const uid = req.model_uid ?? model.family.model_name;
    const params = this.instanceParams(req, model);
    const result = await placementTransaction(this.db, async (tx) => {
      if (await tx.modelInstance.findUnique({ where: { uid } })) {
        throw new HttpError(409, `a model with uid '${uid}' is already launched; terminate it first or give another model_uid`, 'model_uid', {}, 'already_exists', { params: { name: uid } });
      }
      const placement = await placeOnCluster(tx, placementInput(params, req.replica ?? 1, model.engine));
      if (!placement.ok) return { placement, instance: null, replicas: [] };
      const registration = await tx.modelRegistration.findUnique({ where: { name: model.family.model_name } });
      const instance = await tx.modelInstance.create({
        data: {
          uid,
          modelName: model.family.model_name,
          registrationId: registration?.id ?? null,
          engine: model.engine,
          format: model.format,
          sizeInBillions: model.sizeInBillions,
          quantization: model.quantization,
          params: params as never,
          desiredReplicas: req.replica ?? 1,
          status: 'launching',
        },
      });
      const replicas = await this.createReplicas(tx, instance.id, 0, placement);
      await tx.event.create({ data: { kind: 'launch', subject: uid, message: placement.message } });
      return { placement, instance, replicas };
    });
    if (!result.instance) {
      this.metrics.launched('refused');
      throw new HttpError(409, result.placement.message, null, { plan: result.placement.plan, problem_details: result.placement.problem_details }, 'no_capacity');
    }
    this.metrics.launched('accepted');
    await this.enqueue(result.instance, result.replicas);
    return { uid, message: result.placement.message };
  }

  /** Sets the desired replica count: adds placed replicas or stops the highest-numbered ones. */
  async scale(uid: string, count: number): Promise<{ status: string }> {
    this.queues.assertAvailable();
    const { instance, added, removed, status } = await placementTransaction(this.db, async (tx) => {
      const instance = await tx.modelInstance.findUnique({ where: { uid }, include: { replicas: true } });
      if (!instance) throw new HttpError(404, `model '${uid}' is not launched`, 'model_uid', {}, 'model_not_found', { params: { model: uid } });
      const live = instance.replicas.filter((r) => r.status !== 'lost').sort((a, b) => a.index - b.index);
      if (count > live.length) {
        const placement = await placeOnCluster(tx, placementInput(instance.params as unknown as InstanceParams, count - live.length, normalizeEngine(instance.engine)));
        if (!placement.ok) throw new HttpError(409, placement.message, null, { plan: placement.plan, problem_details: placement.problem_details }, 'no_capacity');
        const from = Math.max(-1, ...instance.replicas.map((r) => r.index)) + 1;
        const added = await this.createReplicas(tx, instance.id, from, placement);
        const status = instanceStatus(count, [...live, ...added].map((r) => r.status));
        await tx.modelInstance.update({ where: { id: instance.id }, data: { desiredReplicas: count, status } });
        return { instance, added, removed: [], status };
      }
      const removed = live.slice(count);
      await tx.replica.deleteMany({ where: { id: { in: removed.map((r) => r.id) } } });
      // The status changes with the count, not a reconcile pass later: scaled to 0 reads 'stopped' at once.
      const status = instanceStatus(count, live.slice(0, count).map((r) => r.status));
      await tx.modelInstance.update({ where: { id: instance.id }, data: { desiredReplicas: count, status } });
      return { instance, added: [], removed, status };
    });
    await this.enqueue(instance, added);
    await Promise.all(removed.map((r) => (r.workerId ? this.queues.terminate(r.workerId, { kind: 'terminate', replica_id: r.id, model_uid: uid }).catch(() => {}) : null)));
    return { status };
  }

  /**
   * Starts the failed replicas of `uid` again: each is replaced by a replica placed afresh (its claim was
   * released when it failed) and sent to its worker. 404 for an unknown uid, 409 when none failed or the
   * cluster has no room now.
   */
  async retry(uid: string): Promise<{ retried: number; status: string }> {
    this.queues.assertAvailable();
    const { instance, added, removed, status } = await placementTransaction(this.db, async (tx) => {
      const instance = await tx.modelInstance.findUnique({ where: { uid }, include: { replicas: true } });
      if (!instance) throw new HttpError(404, `model '${uid}' is not launched; GET /v1/models lists what is`, 'model_uid', {}, 'model_not_found');
      const removed = instance.replicas.filter((r) => r.status === 'failed');
      if (removed.length === 0) throw new HttpError(409, `model '${uid}' has no failed replica to retry (it is ${instance.status})`, 'model_uid', {}, 'conflict');
      const placement = await placeOnCluster(tx, placementInput(instance.params as unknown as InstanceParams, removed.length, normalizeEngine(instance.engine)));
      if (!placement.ok) throw new HttpError(409, placement.message, null, { plan: placement.plan }, 'no_capacity');
      await tx.replica.deleteMany({ where: { id: { in: removed.map((r) => r.id) } } });
      const from = Math.max(-1, ...instance.replicas.map((r) => r.index)) + 1;
      const added = await this.createReplicas(tx, instance.id, from, placement);
      const kept = instance.replicas.filter((r) => r.status !== 'failed' && r.status !== 'lost');
      const status = instanceStatus(instance.desiredReplicas, [...kept, ...added].map((r) => r.status));
      await tx.modelInstance.update({ where: { id: instance.id }, data: { status, lastError: null } });
      await tx.event.create({ data: { kind: 'retry', subject: uid, message: `retried ${removed.length} failed replica(s): ${placement.message}` } });
      return { instance, added, removed, status };
    });
    await this.enqueue(instance, added);
    // Failed runners have exited; the terminate only makes sure the worker forgets them.
    await Promise.all(removed.map((r) => (r.workerId ? this.queues.terminate(r.workerId, { kind: 'terminate', replica_id: r.id, model_uid: uid }).catch(() => {}) : null)));
    return { retried: removed.length, status };
  }

  /** Stops replica `index` of `uid` and lowers the desired count by one (Xinference's terminate_model_replica). */
  async terminateReplica(uid: string, index: number): Promise<void> {
    this.queues.assertAvailable();
    const instance = await this.db.prisma.modelInstance.findUnique({ where: { uid }, include: { replicas: true } });
    if (!instance) throw new HttpError(404, `model '${uid}' is not launched; GET /v1/models lists what is`, 'model_uid', {}, 'model_not_found', { params: { model: uid } });
    const replica = instance.replicas.find((r) => r.index === index);
    if (!replica)
      throw new HttpError(404, `model '${uid}' has no replica ${index}; its replicas are ${instance.replicas.map((r) => r.index).join(', ') || 'none'}`, 'replica_id');
    await this.db.prisma.$transaction([
      this.db.prisma.replica.delete({ where: { id: replica.id } }),
      this.db.prisma.modelInstance.update({ where: { id: instance.id }, data: { desiredReplicas: Math.max(0, instance.desiredReplicas - 1) } }),
    ]);
    if (replica.workerId) await this.queues.terminate(replica.workerId, { kind: 'terminate', replica_id: replica.id, model_uid: uid }).catch(() => {});
  }

  /**
   * Resolves once `uid` is ready; rejects when it failed (its error named) or disappeared (terminated or
   * cancelled meanwhile), or when `signal` aborts (the client left).
   */
  async waitReady(uid: string, signal: AbortSignal, pollMs = 200): Promise<void> {
    for (;;) {
      if (signal.aborted) throw new HttpError(499, 'the client went away');
      const row = await this.db.prisma.modelInstance.findUnique({ where: { uid }, include: { replicas: true } });
      if (!row) throw new HttpError(409, `model '${uid}' was terminated before it became ready`, 'model_uid');
      if (row.status === 'ready') return;
      const failed = row.status === 'failed' ? row : null;
      if (failed) {
        const why = row.lastError ?? row.replicas.find((r) => r.lastError)?.lastError ?? 'no reason recorded';
        throw new HttpError(400, `model '${uid}' failed to start: ${why}`, 'model_uid');
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Stops every replica and forgets the instance (claims go with its replicas). */
  async terminate(uid: string): Promise<void> {
    this.queues.assertAvailable();
    const instance = await this.db.prisma.modelInstance.findUnique({ where: { uid }, include: { replicas: true } });
    if (!instance) throw new HttpError(404, `model '${uid}' is not launched; GET /v1/models lists what is`, 'model_uid', {}, 'model_not_found', { params: { model: uid } });
    await this.db.prisma.$transaction([
      this.db.prisma.modelInstance.delete({ where: { id: instance.id } }),
      this.db.prisma.event.create({ data: { kind: 'terminate', subject: uid, message: `terminated ${instance.replicas.length} replica(s)` } }),
    ]);
    // A worker that misses this job still stops the runner: its next heartbeat lists a replica the database no longer has.
    await Promise.all(instance.replicas.map((r) => (r.workerId ? this.queues.terminate(r.workerId, { kind: 'terminate', replica_id: r.id, model_uid: uid }).catch(() => {}) : null)));
  }
}

/** The family's tool-call and reasoning parsers as the runner's flags (vLLM's names). */
function familyParsers(f: { tool_call_parser?: string | null; reasoning_parser?: string | null }): Record<string, unknown> {
  return {
    ...(f.tool_call_parser ? { tool_call_parser: f.tool_call_parser, enable_auto_tool_choice: true } : {}),
    ...(f.reasoning_parser ? { reasoning_parser: f.reasoning_parser } : {}),
  };
}

/** Xinference launch fields that ask for something this platform does not do: a 400 naming each. */
function refuseUnsupportedXinferenceFields(req: LaunchRequest): void {
  const lora = req.peft_model_config?.lora_list;
  if (Array.isArray(lora) && lora.length > 0)
    throw new HttpError(400, 'LoRA adapters (peft_model_config.lora_list) are not supported; leave peft_model_config null', 'peft_model_config');
  if (req.n_worker != null && req.n_worker > 1)
    throw new HttpError(400, `n_worker ${req.n_worker}: a replica runs on one worker here; use n_worker 1 (or null) and replica for more copies`, 'n_worker');
  if (req.envs && Object.keys(req.envs).length > 0)
    throw new HttpError(400, 'envs is not supported: runner environments are set on the worker; leave envs null', 'envs');
  if (req.enable_virtual_env || (req.virtual_env_packages?.length ?? 0) > 0)
    throw new HttpError(400, 'virtual environments are not supported; leave enable_virtual_env and virtual_env_packages null', 'enable_virtual_env');
}
