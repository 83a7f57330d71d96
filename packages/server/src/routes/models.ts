// /v1/models: launch (POST), list (GET, OpenAI's list shape with Xinference's fields), and per model:
// describe, progress, logs, cancel, retry, terminate (DELETE), replicas (GET, POST to scale).
import { Router, type Request } from 'express';
import { LaunchRequestSchema, ModelUidSchema, ScaleRequestSchema, type ModelLogs, type ModelView, type RetryResult } from '@pagoda/protocol';
import type { Auth, Principal } from '../auth.ts';
import { idParam } from '../edge-checks.ts';
import { HttpError, parseBody } from '../http-error.ts';
import type { Platform } from '../platform.ts';
import { instanceProgress, modelView } from '../views.ts';
import { BUILTIN_FAMILIES, type ModelFamily } from '../catalog/index.ts';
import type { InstanceParams } from '../launcher.ts';
import type { InFlightRequests } from '../in-flight.ts';
import { customFamilies } from '../model-resolve.ts';

const SERVABLE = ['ready', 'degraded'];

const uidParam = (req: Request): string => idParam(req, 'uid', ModelUidSchema, 'model_uid', 'model uid');

/**
 * A model as a list shows it. Where its runners listen (and on which worker) and their last errors
 * (runner log lines, which can hold paths) are for admin keys only.
 */
function listedView(row: Parameters<typeof modelView>[0], principal: Principal | undefined): ModelView {
  const view = modelView(row);
  if (!principal || principal.scope === 'admin') return view;
  return { ...view, last_error: null, replicas: view.replicas.map((r) => ({ ...r, address: null, worker: null, last_error: null })) };
}

/** The fields of OpenAI's model object. */
const openAiModel = (row: { uid: string; createdAt: Date }) => ({ id: row.uid, object: 'model' as const, created: Math.floor(row.createdAt.getTime() / 1000), owned_by: 'pagoda' });

/** Xinference's instance states for ours. */
const XINFERENCE_STATUS: Record<string, string> = { pending: 'CREATING', launching: 'CREATING', ready: 'READY', degraded: 'READY', failed: 'ERROR' };

export function modelsRoutes(p: Platform, auth: Auth, inFlight: InFlightRequests): Router {
  const r = Router();
  // The catalog and custom registrations, read per describe/instances call, for the fields Xinference shows.
  const familyLookup = async () => {
    const custom = await customFamilies(p.db);
    return (name: string): ModelFamily | undefined => custom.find((f) => f.model_name === name) ?? BUILTIN_FAMILIES.find((f) => f.model_name === name);
  };
  const describeFields = async (name: string, params: unknown) => {
    const f = (await familyLookup())(name);
    const kwargs = (params as InstanceParams).engine_kwargs ?? {};
    return {
      model_ability: f?.model_ability ?? ['generate'],
      model_lang: f?.model_lang ?? [],
      model_description: f?.model_description ?? '',
      context_length: (kwargs.max_model_len as number | undefined) ?? (params as InstanceParams).context_length ?? f?.context_length ?? null,
      revision: null,
    };
  };

  const admin = auth.require('admin');
  const include = { replicas: { include: { worker: { select: { address: true } } } } } as const;

  const find = async (uid: string) => {
    const row = await p.db.prisma.modelInstance.findUnique({ where: { uid }, include });
    if (!row) throw new HttpError(404, `model '${uid}' is not launched; GET /v1/models lists what is`, 'model_uid', {}, 'model_not_found', { params: { model: uid } });
    return row;
  };

  r.post('/v1/models', admin, async (req, res) => {
    let body;
    try {
      body = parseBody(LaunchRequestSchema, req.body);
    } catch (err) {
      p.metrics.launched('invalid');
      throw err;
    }
    let launched;
    try {
      launched = await p.launcher.launch(body);
    } catch (err) {
      // Refusals for lack of room are counted by the launcher; any other 4xx is a bad request.
      if (err instanceof HttpError && err.status >= 400 && err.status < 500 && !('plan' in err.extra)) p.metrics.launched('invalid');
      throw err;
    }
    const { uid, message } = launched;
    void p.reconciler.runOnce();
    // Xinference's client sends peft_model_config (even null) and expects the answer once the model is
    // ready, as Xinference's wait_ready does; Pagoda's CLI and dashboard get it at once and watch progress.
    const raw = req.body as Record<string, unknown>;
    const waitReady = body.wait_ready ?? 'peft_model_config' in raw;
    if (waitReady) {
      const left = new AbortController();
      res.on('close', () => left.abort());
      try {
        await p.launcher.waitReady(uid, left.signal);
      } catch (err) {
        // A start that failed frees its uid, as Xinference does; one cancelled meanwhile is gone already.
        if (err instanceof HttpError && err.status === 400) await p.launcher.terminate(uid).catch(() => {});
        throw err;
      }
    }
    res.status(200).json({ model_uid: uid, message });
  });

  // Xinference's instance list (before /v1/models/:uid, which would read 'instances' as a uid).
  r.get('/v1/models/instances', admin, async (req, res) => {
    const name = typeof req.query.model_name === 'string' ? req.query.model_name : undefined;
    const uid = typeof req.query.model_uid === 'string' ? req.query.model_uid : undefined;
    const rows = await p.db.prisma.modelInstance.findMany({ include, orderBy: { createdAt: 'asc' }, where: { ...(name ? { modelName: name } : {}), ...(uid ? { uid } : {}) } });
    const familyOf = await familyLookup();
    res.json(
      rows.map((row) => ({
        model_name: row.modelName,
        model_uid: row.uid,
        model_version: null,
        model_ability: familyOf(row.modelName)?.model_ability ?? [],
        replica: row.desiredReplicas,
        status: XINFERENCE_STATUS[row.status] ?? row.status.toUpperCase(),
        instance_created_ts: Math.floor(row.createdAt.getTime() / 1000),
      })),
    );
  });

  r.get('/v1/models', auth.require('inference'), async (req, res) => {
    const all = req.query.all === '1' || req.query.all === 'true';
    const principal = res.locals.principal as Principal | undefined;
    const rows = await p.db.prisma.modelInstance.findMany({ include, orderBy: { createdAt: 'asc' } });
    const data = rows
      .filter((row) => all || SERVABLE.includes(row.status))
      .filter((row) => !principal?.models || principal.models.includes(row.uid))
      .map((row) => ({ ...openAiModel(row), ...listedView(row, principal) }));
    res.json({ object: 'list', data });
  });

  r.get('/v1/models/:uid', admin, async (req, res) => {
    const row = await find(uidParam(req));
    // OpenAI's model object first (the openai client's models.retrieve reads id), then Xinference's describe_model.
    res.json({ ...openAiModel(row), ...(await describeFields(row.modelName, row.params)), ...modelView(row) });
  });

  r.get('/v1/models/:uid/progress', admin, async (req, res) => {
    const row = await find(uidParam(req));
    const view = modelView(row);
    res.json({ model_uid: row.uid, status: row.status, progress: instanceProgress(row), replicas: view.replicas.map((x) => ({ replica_id: x.replica_id, status: x.status, progress: x.progress, last_error: x.last_error })) });
  });

  // Recent runner log lines per replica (what the dashboard shows before live lines arrive); ?lines=N keeps the last N.
  r.get('/v1/models/:uid/logs', admin, async (req, res) => {
    const row = await find(uidParam(req));
    const raw = req.query.lines;
    let limit = p.logs.maxLines;
    if (raw !== undefined) {
      const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!(n >= 1 && n <= p.logs.maxLines)) throw new HttpError(400, `lines must be a whole number from 1 to ${p.logs.maxLines}`, 'lines');
      limit = n;
    }
    const replicas = [...row.replicas].sort((a, b) => a.index - b.index);
    const recent = await p.logs.recent(replicas.map((x) => x.id), limit).catch(() => {
      throw new HttpError(503, 'the log history (Redis) is unreachable; live lines still arrive on the event stream — retry shortly');
    });
    const kept = new Map(recent.map((x) => [x.replica_id, x]));
    res.json({
      model_uid: row.uid,
      replicas: replicas.map((x) => ({ replica_id: x.id, index: x.index, lines: kept.get(x.id)?.lines ?? [], total: kept.get(x.id)?.total ?? 0 })),
    } satisfies ModelLogs);
  });

  // Starts a failed model's failed replicas again, placed afresh; the others are left as they are.
  r.post('/v1/models/:uid/retry', admin, async (req, res) => {
    const uid = uidParam(req);
    const { retried, status } = await p.launcher.retry(uid);
    void p.reconciler.runOnce();
    p.hub.publish({ type: 'status', model_uid: uid, replica_id: null, status, last_error: null });
    res.json({ model_uid: uid, retried, status } satisfies RetryResult);
  });

  r.post('/v1/models/:uid/cancel', admin, async (req, res) => {
    const uid = uidParam(req);
    const row = await find(uid);
    if (row.replicas.length > 0 && row.replicas.every((x) => x.status === 'ready')) {
      throw new HttpError(409, `model '${uid}' has finished launching; terminate it with DELETE /v1/models/${uid}`);
    }
    await p.launcher.terminate(uid);
    res.json({ model_uid: uid, cancelled: true });
  });

  r.delete('/v1/models/:uid', admin, async (req, res) => {
    const uid = uidParam(req);
    await p.launcher.terminate(uid);
    await p.logs.forgetModel(uid).catch((err: Error) => p.log.warn({ err: err.message, model: uid }, 'log history not cleared; it expires in a week'));
    await p.reconciler.refreshRoutes();
    res.json({ model_uid: uid, terminated: true });
  });

  r.get('/v1/models/:uid/replicas', admin, async (req, res) => {
    const view = modelView(await find(uidParam(req)));
    res.json({ model_uid: view.model_uid, replica: view.replica, replicas: view.replicas });
  });

  // Xinference's abort_request: stops a request its client named with request_id.
  r.post('/v1/models/:uid/requests/:request_id/abort', admin, async (req, res) => {
    const uid = uidParam(req);
    const requestId = String(req.params.request_id);
    if (!inFlight.abort(uid, requestId)) throw new HttpError(404, `no request '${requestId}' is running on model '${uid}'`, 'request_id');
    res.json({ msg: `request '${requestId}' of '${uid}' aborted`, model_uid: uid, request_id: requestId, aborted: true });
  });

  r.delete('/v1/models/:uid/replicas/:index', admin, async (req, res) => {
    const uid = uidParam(req);
    const index = Number(req.params.index);
    if (!Number.isInteger(index) || index < 0) throw new HttpError(400, `'${String(req.params.index)}' is not a replica index (0, 1, ...)`, 'replica_id');
    await p.launcher.terminateReplica(uid, index);
    await p.reconciler.refreshRoutes();
    res.json({ model_uid: uid, replica_index: index, terminated: true });
  });

  r.post('/v1/models/:uid/replicas', admin, async (req, res) => {
    const uid = uidParam(req);
    const { replica } = parseBody(ScaleRequestSchema, req.body);
    const { status } = await p.launcher.scale(uid, replica);
    await p.reconciler.refreshRoutes();
    p.hub.publish({ type: 'status', model_uid: uid, replica_id: null, status, last_error: null });
    res.json({ model_uid: uid, replica, status });
  });
  return r;
}
