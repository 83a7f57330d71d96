// The built-in model catalog and its look-ups: list families, find one spec by name / format /
// size / quantization (with errors that list what exists), and the weight bytes a spec loads.
import { DTYPE_BYTES, parameterCount, type CheckpointDtype } from './architecture.ts';
import { ONLINE_QUANTIZATIONS, servedAbilities } from './engine-capabilities.ts';
import {
  MODEL_FORMATS,
  ModelFamilySchema,
  abilityProblems,
  type ModelAbility,
  type ModelFamily,
  type ModelFormat,
  type ModelSpec,
} from './family.ts';
import { EMBEDDING_FAMILIES, RERANK_FAMILIES } from './families/embedding.ts';
import { LLAMA3_FAMILIES } from './families/llama3.ts';
import { MISTRAL_FAMILIES } from './families/mistral.ts';
import { QWEN2_5_FAMILIES } from './families/qwen2-5.ts';
import { QWEN3_FAMILIES } from './families/qwen3.ts';

/** A look-up failed; `status` is the HTTP status a route should answer with, `param` the field at fault. */
export class CatalogError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404,
    readonly param: string | null,
  ) {
    super(message);
    this.name = 'CatalogError';
  }
}

export const BUILTIN_FAMILIES: readonly ModelFamily[] = Object.freeze(
  [...LLAMA3_FAMILIES, ...QWEN2_5_FAMILIES, ...QWEN3_FAMILIES, ...MISTRAL_FAMILIES, ...EMBEDDING_FAMILIES, ...RERANK_FAMILIES].map((f) => {
    const family = ModelFamilySchema.parse(f);
    const problems = abilityProblems(family);
    if (problems.length > 0)
      throw new Error(`catalog family ${family.model_name}: ${problems.join('; ')}`);
    return family;
  }),
);

export interface FamilyFilter {
  /** Substring of the name, family or description, case-insensitive. */
  search?: string;
  ability?: ModelAbility;
  format?: string;
  source?: 'builtin' | 'custom';
}

/**
 * A family as the platform serves it: its abilities narrowed to those an engine that can run one of
 * its specs provides (a model trained for tool calls lists 'tools' only once a request with tools works).
 */
export function servedFamily(family: ModelFamily): ModelFamily {
  const model_ability = servedAbilities(family.model_ability, family.model_specs);
  return model_ability.length === family.model_ability.length ? family : { ...family, model_ability };
}

/** The catalog's families plus `custom` ones (registrations), as served, narrowed by `filter`. */
export function listFamilies(
  filter: FamilyFilter = {},
  custom: readonly ModelFamily[] = [],
): ModelFamily[] {
  const format = filter.format === undefined ? undefined : normalizeFormat(filter.format);
  const needle = filter.search?.toLowerCase();
  return [...BUILTIN_FAMILIES, ...custom].map(servedFamily).filter(
    (f) =>
      (needle === undefined ||
        [f.model_name, f.model_family, f.model_description].some((s) =>
          s.toLowerCase().includes(needle),
        )) &&
      (filter.ability === undefined || f.model_ability.includes(filter.ability)) &&
      (format === undefined || f.model_specs.some((s) => s.model_format === format)) &&
      (filter.source === undefined || f.source === filter.source),
  );
}

/** The family named `name` (exact, then case-insensitive), as served; CatalogError 404 listing close names. */
export function findFamily(name: string, custom: readonly ModelFamily[] = []): ModelFamily {
  const all = [...custom, ...BUILTIN_FAMILIES];
  const found =
    all.find((f) => f.model_name === name) ??
    all.find((f) => f.model_name.toLowerCase() === name.toLowerCase());
  if (found) return servedFamily(found);
  const stem = name.toLowerCase().split(/[-_.\d]/)[0] ?? '';
  const close = all
    .filter((f) => stem.length > 1 && f.model_name.toLowerCase().includes(stem))
    .map((f) => f.model_name);
  const hint =
    close.length > 0
      ? `did you mean ${close.map((n) => `'${n}'`).join(', ')}?`
      : `known models: ${all.map((f) => f.model_name).join(', ')}`;
  throw new CatalogError(
    `model '${name}' is not in the catalog or the registrations; ${hint}`,
    404,
    'model_name',
  );
}

/** Xinference's format names ("pytorch", "ggufv2") and any case map to ours; unknown ones throw. */
export function normalizeFormat(format: string): ModelFormat {
  const f = format.toLowerCase();
  if (f === 'pytorch') return 'safetensors';
  if (f === 'ggufv2') return 'gguf';
  if ((MODEL_FORMATS as readonly string[]).includes(f)) return f as ModelFormat;
  throw new CatalogError(
    `model_format '${format}' is not known; use one of ${MODEL_FORMATS.join(', ')} (or Xinference's 'pytorch')`,
    400,
    'model_format',
  );
}

/** Sizes come as numbers or Xinference's strings ("1_5", "0.5", "7"). */
export function normalizeSize(size: number | string): number {
  const n =
    typeof size === 'number' ? size : Number(size.trim().replace('_', '.').replace(/b$/i, ''));
  if (!Number.isFinite(n) || n <= 0)
    throw new CatalogError(
      `model_size_in_billions '${size}' is not a positive number (e.g. 7, 0.5 or "1_5")`,
      400,
      'model_size_in_billions',
    );
  return n;
}

function describeSpecs(specs: readonly ModelSpec[]): string {
  return specs
    .map((s) => `${s.model_format} ${s.model_size_in_billions}B [${s.quantizations.join(', ')}]`)
    .join('; ');
}

export interface SpecChoice {
  family: ModelFamily;
  spec: ModelSpec;
  quantization: string;
}

/**
 * The spec of `name` for the given format, size and quantization; each left out takes the first that
 * exists (safetensors before others, unquantized before quantized). Errors list what is available.
 */
export function findSpec(
  name: string,
  format?: string | null,
  size?: number | string | null,
  quantization?: string | null,
  custom: readonly ModelFamily[] = [],
): SpecChoice {
  const family = findFamily(name, custom);
  let specs = [...family.model_specs].sort(
    (a, b) => MODEL_FORMATS.indexOf(a.model_format) - MODEL_FORMATS.indexOf(b.model_format),
  );
  if (format != null) {
    const wanted = normalizeFormat(format);
    const matching = specs.filter((s) => s.model_format === wanted);
    if (matching.length === 0) {
      const formats = [...new Set(specs.map((s) => s.model_format))];
      throw new CatalogError(
        `model '${family.model_name}' has no ${wanted} spec; its formats are ${formats.join(', ')}`,
        400,
        'model_format',
      );
    }
    specs = matching;
  }
  if (size != null) {
    const wanted = normalizeSize(size);
    const matching = specs.filter((s) => s.model_size_in_billions === wanted);
    if (matching.length === 0) {
      const sizes = [...new Set(specs.map((s) => s.model_size_in_billions))];
      throw new CatalogError(
        `model '${family.model_name}'${format != null ? ` in ${normalizeFormat(format)}` : ''} has no ${wanted}B size; available sizes: ${sizes.map((s) => `${s}B`).join(', ')}`,
        400,
        'model_size_in_billions',
      );
    }
    specs = matching;
  }
  if (quantization != null) {
    const q = quantization.toLowerCase();
    const spec = specs.find((s) => s.quantizations.some((x) => x.toLowerCase() === q));
    if (!spec) {
      // No checkpoint published in it: an unquantized one the engine quantizes at load (vLLM's --quantization fp8).
      const unquantized = specs.find((s) => s.model_format === 'safetensors');
      if (unquantized && ONLINE_QUANTIZATIONS.includes(q)) return { family, spec: unquantized, quantization: q };
      throw new CatalogError(
        `model '${family.model_name}' has no quantization '${quantization}' for the chosen format and size; available: ${describeSpecs(specs)}`,
        400,
        'quantization',
      );
    }
    return { family, spec, quantization: spec.quantizations.find((x) => x.toLowerCase() === q)! };
  }
  const spec = specs[0]!;
  return {
    family,
    spec,
    quantization: spec.quantizations.includes('none') ? 'none' : spec.quantizations[0]!,
  };
}

/** Effective bits per weight of llama.cpp quantizations (block scales included), for memory planning. */
export const GGUF_BITS_PER_WEIGHT: Record<string, number> = {
  Q2_K: 3.35,
  Q3_K_S: 3.5,
  Q3_K_M: 3.91,
  Q3_K_L: 4.27,
  Q4_0: 4.55,
  Q4_K_S: 4.58,
  Q4_K_M: 4.89,
  Q5_0: 5.54,
  Q5_K_S: 5.54,
  Q5_K_M: 5.7,
  Q6_K: 6.56,
  Q8_0: 8.5,
  F16: 16,
  BF16: 16,
  F32: 32,
};

/**
 * Bytes the weights of `spec` take in memory at `quantization` (all GPUs together). Unquantized
 * checkpoints are counted at `computeDtype` when given (a float32 checkpoint served in bfloat16).
 */
export function weightsBytes(
  spec: ModelSpec,
  quantization: string,
  computeDtype?: CheckpointDtype,
): number {
  const params = parameterCount(spec.architecture);
  // A registered GGUF file's own tensor sizes beat any estimate.
  if (spec.weights_bytes !== undefined) return spec.weights_bytes;
  if (spec.model_format === 'gguf') {
    const bits = GGUF_BITS_PER_WEIGHT[quantization.toUpperCase()];
    if (bits === undefined)
      throw new CatalogError(
        `no size estimate for GGUF quantization '${quantization}'; known: ${Object.keys(GGUF_BITS_PER_WEIGHT).join(', ')}`,
        400,
        'quantization',
      );
    return Math.ceil((params * bits) / 8);
  }
  const fp8 = spec.model_format === 'fp8' || quantization.toLowerCase() === 'fp8';
  if (spec.model_format === 'awq' || spec.model_format === 'gptq' || fp8) {
    // Linear layers at their bits, with a 16-bit scale and zero per 128 weights for AWQ / GPTQ (fp8's
    // per-channel or per-block scales are a rounding error); embeddings and lm_head stay 16-bit.
    // A safetensors checkpoint quantized to fp8 at load holds the same bytes once loaded.
    const bits = fp8 ? 8 : quantization.toLowerCase() === 'int8' ? 8.25 : 4.25;
    const a = spec.architecture;
    const embeddings = a.vocab_size * a.hidden_size * (a.tie_word_embeddings ? 1 : 2);
    return Math.ceil(((params - embeddings) * bits) / 8 + embeddings * 2);
  }
  return params * DTYPE_BYTES[computeDtype ?? spec.architecture.dtype];
}
