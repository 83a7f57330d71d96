// What a launch request names, resolved against the catalog and the custom registrations: the
// family, spec, engine, architecture numbers for planning, and where the files come from.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Database } from '@pagoda/db';
import { clip, type LaunchRequest } from '@pagoda/protocol';
import {
  archFromConfig,
  assertEngineRuns,
  CatalogError,
  engineRefusal,
  findSpec,
  ggufFacts,
  normalizeEngine,
  weightsBytes,
  type ArchNumbers,
  type EngineName,
  type ModelFamily,
} from './catalog/index.ts';
import { HttpError } from './http-error.ts';

export interface ResolvedModel {
  family: ModelFamily;
  engine: EngineName;
  format: string;
  sizeInBillions: number;
  quantization: string;
  arch: ArchNumbers;
  /** Quantized formats only; safetensors weights are counted by the planner at the compute dtype. */
  weightsBytes: number | undefined;
  contextLength: number;
  modelPath: string | null;
  hfRepoId: string | null;
}

export async function customFamilies(db: Database): Promise<ModelFamily[]> {
  const rows = await db.prisma.modelRegistration.findMany({ where: { source: 'custom' } });
  return rows.map((r) => r.spec as unknown as ModelFamily);
}

/** Architecture numbers from a local checkpoint folder given as model_path. */
function archAt(path: string): ArchNumbers {
  const dir = resolve(path);
  // Messages name the path as the client gave it: the server's own directories stay out of responses.
  const given = clip(path, 200);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new HttpError(400, `model_path ${given} is not a folder on the server's machine; give a checkpoint folder holding config.json`, 'model_path');
  const file = join(dir, 'config.json');
  if (!existsSync(file)) throw new HttpError(400, `model_path ${given} has no config.json; point it at a Hugging Face checkpoint folder`, 'model_path');
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new HttpError(400, `${given}/config.json is not valid JSON: ${(err as Error).message}`, 'model_path');
  }
  const parsed = archFromConfig(config);
  if (!parsed.arch) throw new HttpError(400, `${given}/config.json: ${parsed.problems.map((p) => p.message).join('; ')}`, 'model_path');
  return parsed.arch;
}

export async function resolveLaunchModel(db: Database, req: LaunchRequest): Promise<ResolvedModel> {
  try {
    const custom = await customFamilies(db);
    const { family, spec, quantization } = findSpec(req.model_name, req.model_format, req.model_size_in_billions, req.quantization, custom);
    const engine = normalizeEngine(req.model_engine ?? 'builtin');
    if (engine === 'remote') throw new HttpError(400, "model_engine 'remote' fronts an existing OpenAI server and is not launched onto GPUs; use builtin, vllm or llama.cpp", 'model_engine');
    assertEngineRuns(engine, family, spec, quantization);
    if (req.model_type != null && req.model_type !== family.model_type)
      throw new HttpError(400, `'${family.model_name}' is ${family.model_type === 'LLM' ? 'an LLM' : `a${family.model_type === 'embedding' ? 'n' : ''} ${family.model_type} model`}, not model_type '${req.model_type}'; leave model_type out or give '${family.model_type}'`, 'model_type');
    // Before any planning or claim: what the engine cannot do would only fail in the runner, restart after restart.
    const refusal = engineRefusal(engine, { kwargs: req, tensorParallelSize: req.tensor_parallel_size ?? (typeof req.n_gpu === 'number' && req.n_gpu > 0 ? req.n_gpu : null), modelType: family.model_type });
    if (refusal) throw new HttpError(400, refusal.message, refusal.param);
    const modelPath = req.model_path ? resolve(req.model_path) : (spec.model_path ?? null);
    if (modelPath && spec.model_format === 'gguf') {
      // A GGUF file on this machine: plan from its own header (shape and tensor bytes).
      let facts;
      try {
        facts = ggufFacts(modelPath);
      } catch (err) {
        throw new HttpError(400, (err as Error).message, 'model_path');
      }
      return { family, engine, format: 'gguf', sizeInBillions: spec.model_size_in_billions, quantization, arch: facts.arch, weightsBytes: facts.weightsBytes, contextLength: family.context_length, modelPath, hfRepoId: null };
    }
    const arch = req.model_path ? archAt(req.model_path) : spec.architecture;
    return {
      family,
      engine,
      format: spec.model_format,
      sizeInBillions: spec.model_size_in_billions,
      quantization,
      arch,
      // An unquantized checkpoint's bytes follow its dtype (the planner's); one quantized at load, its quantization.
      weightsBytes: spec.model_format === 'safetensors' && quantization === 'none' ? undefined : weightsBytes({ ...spec, architecture: arch }, quantization),
      contextLength: family.context_length,
      modelPath,
      hfRepoId: modelPath ? null : spec.model_id,
    };
  } catch (err) {
    if (err instanceof CatalogError) throw new HttpError(err.status, err.message, err.param);
    throw err;
  }
}
