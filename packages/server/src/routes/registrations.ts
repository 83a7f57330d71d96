// /v1/model_registrations/{type}[/{name}] and /v1/engines/{model_name}: custom models (validated when
// registered: the checkpoint must load) beside the built-in catalog, and which engines run what.
import { Router, type Request, type Response } from 'express';
import { Prisma } from '@pagoda/db';
import { clip, MODEL_TYPES, ModelNameSchema, type ModelType, type RegistrationSummary, type RegistrationUpdated } from '@pagoda/protocol';
import type { Auth } from '../auth.ts';
import { BUILTIN_FAMILIES, CatalogError, enginesFor, listFamilies, findFamily, validateRegistration } from '../catalog/index.ts';
import { findNulByte, idParam } from '../edge-checks.ts';
import { HttpError } from '../http-error.ts';
import { customFamilies } from '../model-resolve.ts';
import type { Platform } from '../platform.ts';

/** "an LLM", "an embedding model", "a rerank model". */
function article(type: string): string {
  return type === 'LLM' ? 'an LLM' : `a${type === 'embedding' ? 'n' : ''} ${type} model`;
}

function modelType(req: Request): ModelType {
  const type = String(req.params.type);
  if (!(MODEL_TYPES as readonly string[]).includes(type)) throw new HttpError(404, `model type '${clip(type)}' is not served here; use ${MODEL_TYPES.join(', ')}`, 'model_type');
  return type as ModelType;
}

/** Xinference sends {model: "<json>", persist}; plain objects are accepted too. */
function registrationBody(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object describing the model (model_name, model_path or hf_repo_id, ...)');
  const b = body as { model?: unknown; persist?: unknown };
  if (typeof b.model === 'string') {
    let inner: unknown;
    try {
      inner = JSON.parse(b.model);
    } catch (err) {
      throw new HttpError(400, `'model' is not valid JSON: ${clip((err as Error).message, 200)}`, 'model', {}, 'invalid_json');
    }
    // The edge check saw only the outer string; its JSON may spell NUL bytes as \u0000.
    const at = findNulByte(inner);
    if (at !== null) throw new HttpError(400, `'model.${at}' holds a NUL byte; remove it`, 'model', {}, 'nul_byte');
    return inner;
  }
  return body;
}

const nameParam = (req: Request, key = 'name'): string => idParam(req, key, ModelNameSchema, 'model_name', 'model name');

/** Validates a registration body, or answers 400 naming every field to change. */
async function validated(input: unknown): Promise<Extract<Awaited<ReturnType<typeof validateRegistration>>, { ok: true }>> {
  const result = await validateRegistration(input);
  if (!result.ok) {
    const first = result.errors[0]!;
    throw new HttpError(400, result.errors.map((e) => `${e.field}: ${e.message}`).join('; '), first.field, { errors: result.errors });
  }
  return result;
}

/** The database row of a validated registration. */
function registrationRow(result: Extract<Awaited<ReturnType<typeof validateRegistration>>, { ok: true }>) {
  const { family } = result;
  return {
    name: family.model_name,
    family: family.model_family,
    modelPath: result.modelPath,
    hfRepoId: result.hfRepoId,
    architecture: result.arch.architecture,
    chatTemplate: family.chat_template,
    contextLength: family.context_length,
    spec: family as never,
  };
}

function catalogError(err: unknown): never {
  if (err instanceof CatalogError) throw new HttpError(err.status, err.message, err.param, {}, err.status === 404 ? 'registration_not_found' : undefined);
  throw err;
}

export function registrationRoutes(p: Platform, auth: Auth): Router {
  const r = Router();
  const admin = auth.require('admin');

  r.post('/v1/model_registrations/:type', admin, async (req, res) => {
    const type = modelType(req);
    const result = await validated(registrationBody(req.body));
    const { family } = result;
    if (family.model_type !== type) throw new HttpError(400, `${result.arch.architecture} is ${article(family.model_type)}; register it under /v1/model_registrations/${family.model_type} (pagoda register ${family.model_name} --model-type ${family.model_type} ...)`, 'model_type');
    try {
      await p.db.prisma.modelRegistration.create({ data: { ...registrationRow(result), modelType: family.model_type, source: 'custom' } });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
        throw new HttpError(409, `a model named '${family.model_name}' is already registered; update it with PUT or PATCH /v1/model_registrations/${family.model_type}/${family.model_name} (pagoda register ${family.model_name} --update ...), or pick another model_name`, 'model_name', {}, 'already_exists', { params: { name: family.model_name } });
      }
      throw err;
    }
    res.status(200).json({ model_name: family.model_name, registered: true, family });
  });

  // PUT replaces a custom registration with the body; PATCH changes the fields it names and keeps the
  // checkpoint, chat_template and context_length. Either is validated as a new registration is.
  // Running instances keep what they were launched with until they are terminated and launched again.
  const update = (merge: boolean) =>
    async (req: Request, res: Response) => {
      const type = modelType(req);
      const name = nameParam(req);
      if (BUILTIN_FAMILIES.some((f) => f.model_name === name)) throw new HttpError(400, `'${name}' is a built-in model and cannot be changed; register a custom model under another name`, 'model_name');
      const row = await p.db.prisma.modelRegistration.findUnique({ where: { name }, include: { instances: { select: { uid: true } } } });
      if (!row) throw new HttpError(404, `no custom model named '${name}' is registered; register it with POST /v1/model_registrations/${type}`, 'model_name', {}, 'registration_not_found', { params: { model_name: name } });
      // A registration changes under its own type's path, so a body checked as one type never replaces another's.
      if (row.modelType !== type) throw new HttpError(400, `'${name}' is registered as ${article(row.modelType)}; change it under /v1/model_registrations/${row.modelType}/${name}`, 'model_type');
      const body = registrationBody(req.body) as Record<string, unknown>;
      if (body.model_name !== undefined && body.model_name !== name) throw new HttpError(400, `model_name '${clip(String(body.model_name))}' does not match '${name}' in the path; a registration cannot be renamed`, 'model_name');
      const changesSource = body.model_path !== undefined || body.hf_repo_id !== undefined;
      const kept = merge
        ? {
            ...(changesSource ? {} : row.modelPath ? { model_path: row.modelPath } : { hf_repo_id: row.hfRepoId }),
            ...(row.chatTemplate !== null ? { chat_template: row.chatTemplate } : {}),
            context_length: row.contextLength,
          }
        : {};
      const result = await validated({ ...kept, ...body, model_name: name });
      if (result.family.model_type !== type) throw new HttpError(400, `${result.arch.architecture} is ${article(result.family.model_type)}; '${name}' is registered as ${article(type)}: register the checkpoint under another name at /v1/model_registrations/${result.family.model_type}`, 'model_type');
      await p.db.prisma.modelRegistration.update({ where: { id: row.id }, data: registrationRow(result) });
      const launched = row.instances.map((i) => i.uid);
      res.json({ model_name: name, updated: true, launched_as: launched, family: result.family } satisfies RegistrationUpdated);
    };
  r.put('/v1/model_registrations/:type/:name', admin, update(false));
  r.patch('/v1/model_registrations/:type/:name', admin, update(true));

  r.get('/v1/model_registrations/:type', admin, async (req, res) => {
    const type = modelType(req);
    const custom = await customFamilies(p.db);
    // Xinference's list_model_registrations(detailed=True): whole families.
    const detailed = req.query.detailed === 'true' || req.query.detailed === '1';
    if (detailed) return void res.json(listFamilies({}, custom).filter((f) => f.model_type === type).map((f) => ({ ...f, is_builtin: f.source === 'builtin' })));
    res.json(listFamilies({}, custom).filter((f) => f.model_type === type).map((f) => ({ model_name: f.model_name, is_builtin: f.source === 'builtin', model_family: f.model_family, model_ability: f.model_ability, context_length: f.context_length, ...(f.dimensions ? { dimensions: f.dimensions } : {}), ...(f.max_tokens ? { max_tokens: f.max_tokens } : {}) }) satisfies RegistrationSummary));
  });

  r.get('/v1/model_registrations/:type/:name', admin, async (req, res) => {
    modelType(req);
    try {
      res.json(findFamily(nameParam(req), await customFamilies(p.db)));
    } catch (err) {
      catalogError(err);
    }
  });

  r.delete('/v1/model_registrations/:type/:name', admin, async (req, res) => {
    modelType(req);
    const name = nameParam(req);
    if (BUILTIN_FAMILIES.some((f) => f.model_name === name)) throw new HttpError(400, `'${name}' is a built-in model and cannot be unregistered`, 'model_name');
    const row = await p.db.prisma.modelRegistration.findUnique({ where: { name }, include: { instances: { select: { uid: true } } } });
    if (!row) throw new HttpError(404, `no custom model named '${name}' is registered`, 'model_name', {}, 'registration_not_found', { params: { model_name: name } });
    if (row.instances.length > 0) throw new HttpError(409, `'${name}' is launched as ${row.instances.map((i) => i.uid).join(', ')}; terminate those first`, 'model_name');
    await p.db.prisma.modelRegistration.delete({ where: { id: row.id } });
    res.json({ model_name: name, unregistered: true });
  });

  const engines = async (req: Request, res: import('express').Response) => {
    try {
      res.json(enginesFor(nameParam(req, 'model_name'), await customFamilies(p.db)));
    } catch (err) {
      catalogError(err);
    }
  };
  r.get('/v1/engines/:model_name', admin, engines);
  // Xinference's query_engine_by_model_name spells the type too.
  r.get('/v1/engines/:type/:model_name', admin, (req, res) => {
    modelType(req);
    return engines(req, res);
  });
  return r;
}
