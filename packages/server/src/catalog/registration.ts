// Validates a custom model registration (a local checkpoint folder or a Hugging Face repo id): the
// checkpoint must hold a loadable config.json of a supported architecture and a tokenizer.json.
// Every problem is reported against the field the user has to change.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { clip, fieldIssue } from '@pagoda/protocol';
import {
  archFromConfig,
  modelTypeOf,
  parameterCount,
  type ArchNumbers,
  type FieldProblem,
} from './architecture.ts';
import { BUILTIN_FAMILIES } from './catalog.ts';
import { ggufFacts } from './gguf-model.ts';
import { MODEL_ABILITIES, ModelFamilySchema, abilityProblems, type ModelFamily } from './family.ts';

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HF_REPO_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const RegistrationInputSchema = z.object({
  model_name: z.string(),
  model_path: z.string().optional(),
  hf_repo_id: z.string().optional(),
  /** Optional: when given it must match config.json's architectures[0]. */
  architecture: z.string().optional(),
  /** Jinja text; absent: the checkpoint's own. */
  chat_template: z.string().nullable().optional(),
  context_length: z.number().int().positive().optional(),
  model_description: z.string().optional(),
  model_ability: z.array(z.enum(MODEL_ABILITIES)).min(1).optional(),
  model_lang: z.array(z.string()).optional(),
  stop: z.array(z.string()).optional(),
  stop_token_ids: z.array(z.number().int().nonnegative()).optional(),
  tool_call_parser: z.enum(['hermes', 'llama3_json', 'mistral']).nullable().optional(),
  reasoning_parser: z.enum(['qwen3', 'deepseek_r1']).nullable().optional(),
  /** GGUF: the quantization the file holds (checked against its header when the header names one). */
  quantization: z.string().optional(),
});
export type RegistrationInput = z.input<typeof RegistrationInputSchema>;

/** How to read checkpoint files from the Hugging Face hub (HF_ENDPOINT, HF_TOKEN by default). */
export interface HubAccess {
  endpoint?: string;
  token?: string;
  revision?: string;
  fetch?: typeof fetch;
}

export type RegistrationResult =
  | {
      ok: true;
      family: ModelFamily;
      arch: ArchNumbers;
      modelPath: string | null;
      hfRepoId: string | null;
    }
  | { ok: false; errors: FieldProblem[] };

/** What validation needs from a checkpoint, wherever it lives: text of a file, or null when absent. */
type FileReader = (name: string) => Promise<string | null>;

function localReader(dir: string): FileReader {
  return async (name) => {
    const path = join(dir, name);
    return existsSync(path) ? readFileSync(path, 'utf8') : null;
  };
}

function hubReader(repo: string, hub: HubAccess): FileReader {
  const endpoint = (hub.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(
    /\/+$/,
    '',
  );
  const token = hub.token ?? process.env.HF_TOKEN;
  const doFetch = hub.fetch ?? fetch;
  return async (name) => {
    const url = `${endpoint}/${repo}/resolve/${encodeURIComponent(hub.revision ?? 'main')}/${name}`;
    const res = await doFetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (res.status === 404) return null;
    if (res.status === 401 || res.status === 403) {
      throw new Error(
        `the hub refused ${repo} (HTTP ${res.status}): the repository is gated or private; set HF_TOKEN to a token with access`,
      );
    }
    if (!res.ok) throw new Error(`the hub answered HTTP ${res.status} for ${url}`);
    return res.text();
  };
}

function parseJson(text: string, file: string, field: string, errors: FieldProblem[]): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    errors.push({ field, message: `${file} is not valid JSON: ${(err as Error).message}` });
    return undefined;
  }
}

function eosIds(...configs: unknown[]): number[] {
  for (const c of configs) {
    const eos = (c as { eos_token_id?: unknown } | undefined)?.eos_token_id;
    if (typeof eos === 'number') return [eos];
    if (Array.isArray(eos) && eos.every((x) => typeof x === 'number')) return eos as number[];
  }
  return [];
}

async function checkCheckpoint(
  read: FileReader,
  where: string,
  field: string,
  errors: FieldProblem[],
) {
  const configText = await read('config.json');
  const tokenizerText = await read('tokenizer.json');
  if (configText === null)
    errors.push({
      field,
      message: `${where} has no config.json; point ${field} at a Hugging Face checkpoint folder`,
      problem: 'no_config',
      params: { path: where },
    });
  if (tokenizerText === null)
    errors.push({
      field,
      message: `${where} has no tokenizer.json; the engine needs the fast tokenizer file beside config.json`,
      problem: 'no_tokenizer',
      params: { path: where },
    });
  let arch: ArchNumbers | null = null;
  let config: unknown;
  if (configText !== null) {
    config = parseJson(configText, `${where}/config.json`, field, errors);
    if (config !== undefined) {
      const parsed = archFromConfig(config);
      if (parsed.arch) arch = parsed.arch;
      else
        errors.push(
          ...parsed.problems.map((p) => ({
            field,
            message: `${where}/config.json: ${p.message}`,
            problem: 'bad_config' as const,
            params: { path: `${where}/config.json` },
          })),
        );
    }
  }
  if (tokenizerText !== null) {
    const tok = parseJson(tokenizerText, `${where}/tokenizer.json`, field, errors);
    if (
      tok !== undefined &&
      (typeof tok !== 'object' ||
        tok === null ||
        typeof (tok as { model?: unknown }).model !== 'object')
    ) {
      errors.push({
        field,
        message: `${where}/tokenizer.json has no 'model' section; it is not a tokenizers file`,
      });
    }
  }
  const tokConfigText = await read('tokenizer_config.json');
  const tokConfig =
    tokConfigText === null
      ? undefined
      : parseJson(tokConfigText, `${where}/tokenizer_config.json`, field, errors);
  const jinja = await read('chat_template.jinja');
  const hasTemplate =
    jinja !== null ||
    (typeof tokConfig === 'object' &&
      tokConfig !== null &&
      (tokConfig as { chat_template?: unknown }).chat_template != null);
  const genText = await read('generation_config.json');
  const genConfig =
    genText === null
      ? undefined
      : parseJson(genText, `${where}/generation_config.json`, field, errors);
  return { arch, hasTemplate, stopTokenIds: eosIds(genConfig, config) };
}

const XinferenceSpecSchema = z.looseObject({
  model_format: z.string(),
  model_uri: z.string().nullable().optional(),
  quantization: z.string().nullable().optional(),
  quantizations: z.array(z.string()).nullable().optional(),
  model_file_name_template: z.string().nullable().optional(),
});

/**
 * Xinference's custom-LLM JSON (model_specs[] with file:// model_uri, null for "the model's own") as
 * this platform's registration input; other bodies pass through unchanged.
 */
export function fromXinferenceModel(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || !('model_specs' in input)) return input;
  const x = input as Record<string, unknown>;
  const specs = z.array(XinferenceSpecSchema).min(1).safeParse(x.model_specs);
  if (!specs.success)
    return {
      invalidModelSpecs: specs.error.issues
        .map((i) => `${['model_specs', ...i.path.map(String)].join('.')}: ${i.message}`)
        .join('; '),
    };
  const spec = specs.data[0]!;
  const quantization = spec.quantization ?? spec.quantizations?.[0] ?? undefined;
  let path = spec.model_uri ?? undefined;
  if (path?.startsWith('file://')) path = decodeURIComponent(path.slice('file://'.length));
  if (path && spec.model_file_name_template && !path.toLowerCase().endsWith('.gguf'))
    path = join(path, spec.model_file_name_template.replace('{quantization}', quantization ?? ''));
  const keep = (v: unknown) => (v === null ? undefined : v);
  return {
    model_name: x.model_name,
    model_path: path,
    model_format: spec.model_format,
    quantization: spec.model_format.toLowerCase().startsWith('gguf') ? quantization : undefined,
    chat_template: keep(x.chat_template),
    context_length: keep(x.context_length),
    model_description: keep(x.model_description),
    model_ability: keep(x.model_ability),
    model_lang: keep(x.model_lang),
    stop: keep(x.stop),
    stop_token_ids: keep(x.stop_token_ids),
  };
}

/** A registration of one GGUF file: its spec comes from the file's header. */
function ggufRegistration(
  r: z.output<typeof RegistrationInputSchema>,
  path: string,
): RegistrationResult {
  let facts;
  try {
    facts = ggufFacts(path);
  } catch (err) {
    return { ok: false, errors: [{ field: 'model_path', message: (err as Error).message }] };
  }
  const errors: FieldProblem[] = [];
  if (r.quantization && r.quantization.toLowerCase() !== facts.quantization.toLowerCase())
    errors.push({
      field: 'quantization',
      message: `quantization '${r.quantization}' does not match the file's ${facts.quantization} (general.file_type); correct it or leave it out`,
    });
  if (r.context_length !== undefined && r.context_length > facts.contextLength)
    errors.push({
      field: 'context_length',
      message: `context_length ${r.context_length} exceeds the GGUF's ${facts.contextLength}; lower it to <= ${facts.contextLength}`,
    });
  const hasTemplate = r.chat_template != null || facts.chatTemplate !== null;
  if (r.model_ability?.includes('chat') && !hasTemplate)
    errors.push({
      field: 'chat_template',
      message:
        "model_ability includes 'chat' but the GGUF has no tokenizer.chat_template; give chat_template",
    });
  if (errors.length > 0) return { ok: false, errors };
  const family = ModelFamilySchema.parse({
    model_name: r.model_name,
    model_family: facts.arch.architecture,
    model_description:
      r.model_description ??
      `Custom GGUF ${facts.arch.architecture} (${facts.quantization}) registered from ${path}`,
    model_lang: r.model_lang ?? ['en'],
    model_ability: r.model_ability ?? (hasTemplate ? ['chat', 'generate'] : ['generate']),
    context_length: r.context_length ?? facts.contextLength,
    chat_template: r.chat_template ?? null,
    stop: r.stop ?? [],
    stop_token_ids: r.stop_token_ids ?? (facts.eosTokenId === null ? [] : [facts.eosTokenId]),
    source: 'custom',
    model_specs: [
      {
        model_format: 'gguf',
        model_size_in_billions: Number((facts.parameters / 1e9).toPrecision(3)),
        quantizations: [facts.quantization],
        model_id: path,
        model_path: path,
        weights_bytes: facts.weightsBytes,
        architecture: facts.arch,
      },
    ],
  });
  return { ok: true, family, arch: facts.arch, modelPath: path, hfRepoId: null };
}

/**
 * Checks a registration and builds its catalog family (one safetensors spec). `hub` is used only for
 * hf_repo_id registrations. Never throws for bad input: problems come back per field.
 */
export async function validateRegistration(
  input: unknown,
  hub: HubAccess = {},
): Promise<RegistrationResult> {
  const converted = fromXinferenceModel(input);
  if (typeof converted === 'object' && converted !== null && 'invalidModelSpecs' in converted)
    return {
      ok: false,
      errors: [{ field: 'model_specs', message: String(converted.invalidModelSpecs) }],
    };
  const shape = RegistrationInputSchema.safeParse(converted);
  if (!shape.success) {
    return {
      ok: false,
      errors: shape.error.issues.map((i) => ({
        field: i.path.map(String).join('.') || 'body',
        message: i.message,
        issue: fieldIssue(i, i.path.map(String).join('.')),
      })),
    };
  }
  const r = shape.data;
  const errors: FieldProblem[] = [];
  if (!MODEL_NAME_PATTERN.test(r.model_name)) {
    errors.push({
      field: 'model_name',
      message: `'${clip(r.model_name)}' is not a valid name: use letters, digits, '.', '_' and '-' (up to 128), starting with a letter or digit`,
      problem: 'invalid_name',
      params: { value: clip(r.model_name) },
    });
  } else if (
    BUILTIN_FAMILIES.some((f) => f.model_name.toLowerCase() === r.model_name.toLowerCase())
  ) {
    errors.push({
      field: 'model_name',
      message: `'${r.model_name}' is a built-in model; choose another name for a custom registration`,
      problem: 'builtin_name',
      params: { value: r.model_name },
    });
  }
  if ((r.model_path === undefined) === (r.hf_repo_id === undefined)) {
    errors.push({
      field: r.model_path === undefined ? 'model_path' : 'hf_repo_id',
      message:
        'give exactly one of model_path (a local checkpoint folder) or hf_repo_id (owner/name on the Hugging Face hub)',
      problem: 'one_source',
    });
    return { ok: false, errors };
  }

  let read: FileReader | null = null;
  let where: string;
  let field = 'model_path';
  let modelPath: string | null = null;
  if (r.model_path !== undefined) {
    modelPath = resolve(r.model_path);
    // Messages name the folder as the client gave it, not resolved against the server's directory.
    where = clip(r.model_path, 200);
    const format = (converted as { model_format?: unknown }).model_format;
    const gguf =
      modelPath.toLowerCase().endsWith('.gguf') ||
      (typeof format === 'string' && format.toLowerCase().startsWith('gguf'));
    if (!existsSync(modelPath))
      errors.push({ field, message: `${where} does not exist`, problem: 'path_missing', params: { path: where } });
    else if (gguf)
      return errors.length > 0 ? { ok: false, errors } : ggufRegistration(r, modelPath);
    else if (!statSync(modelPath).isDirectory())
      errors.push({
        field,
        message: `${where} is a file; give the checkpoint folder that holds config.json and tokenizer.json`,
        problem: 'path_is_file',
        params: { path: where },
      });
    else read = localReader(modelPath);
  } else {
    field = 'hf_repo_id';
    where = r.hf_repo_id!;
    if (!HF_REPO_PATTERN.test(r.hf_repo_id!))
      errors.push({
        field,
        message: `'${clip(r.hf_repo_id!)}' is not a Hugging Face repo id; write it as owner/name`,
        problem: 'bad_repo_id',
        params: { value: clip(r.hf_repo_id!) },
      });
    else read = hubReader(r.hf_repo_id!, hub);
  }
  if (!read) return { ok: false, errors };

  let checked: Awaited<ReturnType<typeof checkCheckpoint>>;
  try {
    checked = await checkCheckpoint(read, where, field, errors);
  } catch (err) {
    errors.push({ field, message: `cannot read ${where}: ${(err as Error).message}` });
    return { ok: false, errors };
  }
  const { arch } = checked;
  if (arch && r.architecture !== undefined && r.architecture !== arch.architecture) {
    errors.push({
      field: 'architecture',
      message: `architecture '${clip(r.architecture)}' does not match config.json's '${arch.architecture}'; leave it out or correct it`,
    });
  }
  if (arch && r.context_length !== undefined && r.context_length > arch.max_position_embeddings) {
    errors.push({
      field: 'context_length',
      message: `context_length ${r.context_length} exceeds the model's max_position_embeddings (${arch.max_position_embeddings}); lower it to <= ${arch.max_position_embeddings}`,
      problem: 'context_too_long',
      params: { value: r.context_length, maximum: arch.max_position_embeddings },
    });
  }
  const hasTemplate = r.chat_template != null || checked.hasTemplate;
  if (r.model_ability?.includes('chat') && !hasTemplate) {
    errors.push({
      field: 'chat_template',
      message: `model_ability includes 'chat' but the checkpoint has no chat template (tokenizer_config.json or chat_template.jinja); give chat_template`,
      problem: 'no_chat_template',
    });
  }
  const abilities = r.model_ability ?? [];
  for (const message of abilityProblems({
    model_ability: abilities,
    tool_call_parser: r.tool_call_parser ?? null,
    reasoning_parser: r.reasoning_parser ?? null,
  }))
    errors.push({
      field: message.includes("'tools'") ? 'tool_call_parser' : 'reasoning_parser',
      message,
    });
  if (errors.length > 0 || !arch) return { ok: false, errors };

  const params = parameterCount(arch);
  const modelType = modelTypeOf(arch.architecture);
  const defaultAbility =
    modelType === 'embedding' ? ['embed'] : modelType === 'rerank' ? ['rerank'] : hasTemplate ? ['chat', 'generate'] : ['generate'];
  const family = ModelFamilySchema.parse({
    model_name: r.model_name,
    model_type: modelType,
    ...(modelType === 'embedding' ? { dimensions: arch.hidden_size } : {}),
    ...(modelType !== 'LLM' ? { max_tokens: r.context_length ?? arch.max_position_embeddings } : {}),
    model_family: arch.architecture,
    model_description:
      r.model_description ?? `Custom ${arch.architecture} registered from ${where}`,
    model_lang: r.model_lang ?? ['en'],
    model_ability: r.model_ability ?? defaultAbility,
    context_length: r.context_length ?? arch.max_position_embeddings,
    chat_template: r.chat_template ?? null,
    stop: r.stop ?? [],
    stop_token_ids: r.stop_token_ids ?? checked.stopTokenIds,
    tool_call_parser: r.tool_call_parser ?? null,
    reasoning_parser: r.reasoning_parser ?? null,
    source: 'custom',
    model_specs: [
      {
        model_format: 'safetensors',
        model_size_in_billions: Number((params / 1e9).toPrecision(3)),
        quantizations: ['none'],
        model_id: r.hf_repo_id ?? modelPath!,
        ...(modelPath ? { model_path: modelPath } : {}),
        architecture: arch,
      },
    ],
  });
  return { ok: true, family, arch, modelPath, hfRepoId: r.hf_repo_id ?? null };
}
