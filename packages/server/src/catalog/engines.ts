// Which engines run which specs: the answer to GET /v1/engines/{model_name} (Xinference's shape: engine
// name → the format / size / quantizations it can run), and the check a launch makes before planning.
import { CatalogError, findFamily } from './catalog.ts';
import { ENGINE_NAMES, engineQuantizations, type EngineName } from './engine-capabilities.ts';
import type { ModelFamily, ModelFormat, ModelSpec } from './family.ts';

/** The runner backend (packages/runner BACKEND_KINDS) that serves each engine. */
export const RUNNER_BACKEND: Record<EngineName, 'builtin' | 'vllm' | 'llamacpp' | 'remote'> = {
  builtin: 'builtin',
  vllm: 'vllm',
  'llama.cpp': 'llamacpp',
  remote: 'remote',
};

/** Engine names in any case and Xinference's / common spellings ("vLLM", "llamacpp", "llama_cpp"). */
export function normalizeEngine(name: string): EngineName {
  const n = name.toLowerCase().replace(/[_-]/g, '.');
  if (n === 'llamacpp' || n === 'llama.cpp') return 'llama.cpp';
  if ((ENGINE_NAMES as readonly string[]).includes(n)) return n as EngineName;
  throw new CatalogError(
    `model_engine '${name}' is not known; use one of ${ENGINE_NAMES.join(', ')}`,
    400,
    'model_engine',
  );
}

export interface EngineSpecEntry {
  model_name: string;
  model_format: ModelFormat;
  model_size_in_billions: number;
  quantizations: string[];
  model_id: string;
}

/** GET /v1/engines/{model_name}: for each engine that can run some spec of the family, those specs. */
export function enginesFor(
  modelName: string,
  custom: readonly ModelFamily[] = [],
): Partial<Record<EngineName, EngineSpecEntry[]>> {
  const family = findFamily(modelName, custom);
  const out: Partial<Record<EngineName, EngineSpecEntry[]>> = {};
  for (const engine of ENGINE_NAMES) {
    const entries = family.model_specs.flatMap((spec) => {
      const quantizations = engineQuantizations(engine, spec, family.model_type);
      if (quantizations.length === 0) return [];
      return [
        {
          model_name: family.model_name,
          model_format: spec.model_format,
          model_size_in_billions: spec.model_size_in_billions,
          quantizations,
          model_id: spec.model_id,
        },
      ];
    });
    if (entries.length > 0) out[engine] = entries;
  }
  return out;
}

/** Throws CatalogError 400 when `engine` cannot run this spec at this quantization, naming the engines that can. */
export function assertEngineRuns(
  engine: EngineName,
  family: ModelFamily,
  spec: ModelSpec,
  quantization: string,
): void {
  if (engineQuantizations(engine, spec, family.model_type).includes(quantization)) return;
  const able = ENGINE_NAMES.filter(
    (e) => e !== 'remote' && engineQuantizations(e, spec, family.model_type).includes(quantization),
  );
  const what = `${family.model_name} ${spec.model_format} ${spec.model_size_in_billions}B ${quantization}`;
  throw new CatalogError(
    `engine '${engine}' cannot run ${what}; ${able.length > 0 ? `use model_engine ${able.map((e) => `'${e}'`).join(' or ')}` : 'no local engine runs it: choose another format or quantization'}`,
    400,
    'model_engine',
  );
}
