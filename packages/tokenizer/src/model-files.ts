// Reads and validates the tokenizer files of a model folder: tokenizer.json, tokenizer_config.json,
// generation_config.json and an optional chat_template.jinja. Every failure names the file and the problem.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** A tokenizer file is missing, is not JSON, or has a field of the wrong shape. */
export class TokenizerFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'TokenizerFileError';
  }
}

// A special token is written either as its text or as a serialized AddedToken object.
const specialTokenSchema = z.union([
  z.string(),
  z.looseObject({ content: z.string() }).transform((token) => token.content),
]);

const namedTemplateSchema = z.object({ name: z.string(), template: z.string() });

/** A chat template: one text, or named texts (transformers' list form, e.g. "default" and "tool_use"). */
export const chatTemplateSchema = z.union([z.string(), z.array(namedTemplateSchema)]);
export type ChatTemplateSource = z.infer<typeof chatTemplateSchema>;

const tokenizerJsonSchema = z.looseObject({
  // The model kinds @huggingface/tokenizers implements; without a type it infers one, as the Rust library does.
  model: z.looseObject({ type: z.enum(['BPE', 'Unigram', 'WordPiece']).optional() }),
  added_tokens: z
    .array(z.looseObject({ id: z.number().int().nonnegative(), content: z.string(), special: z.boolean().optional() }))
    .default([]),
  normalizer: z.unknown().default(null),
  pre_tokenizer: z.unknown().default(null),
  post_processor: z.unknown().default(null),
  decoder: z.unknown().default(null),
});
export type TokenizerJson = z.infer<typeof tokenizerJsonSchema>;

const tokenizerConfigSchema = z.looseObject({
  bos_token: specialTokenSchema.nullish(),
  eos_token: specialTokenSchema.nullish(),
  unk_token: specialTokenSchema.nullish(),
  pad_token: specialTokenSchema.nullish(),
  add_bos_token: z.boolean().optional(),
  add_eos_token: z.boolean().optional(),
  clean_up_tokenization_spaces: z.boolean().optional(),
  additional_special_tokens: z.array(specialTokenSchema).optional(),
  chat_template: chatTemplateSchema.nullish(),
});
export type TokenizerConfig = z.infer<typeof tokenizerConfigSchema>;

const generationConfigSchema = z.looseObject({
  bos_token_id: z.number().int().nullish(),
  eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).nullish(),
});
export type GenerationConfig = z.infer<typeof generationConfigSchema>;

/** Everything a Tokenizer is built from, validated. */
export interface ModelTokenizerFiles {
  tokenizerJson: TokenizerJson;
  tokenizerConfig: TokenizerConfig;
  generationConfig: GenerationConfig | null;
  /** From tokenizer_config.json, or from chat_template.jinja beside it (newer checkpoints). */
  chatTemplate: ChatTemplateSource | null;
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new TokenizerFileError(path, 'file not found');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenizerFileError(path, `cannot be read (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TokenizerFileError(path, `is not valid JSON (${(err as Error).message})`);
  }
}

function validate<T>(path: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? `field "${issue.path.join('.')}"` : 'the top level';
    return `${field}: ${issue.message}`;
  });
  throw new TokenizerFileError(path, `unexpected content: ${problems.join('; ')}`);
}

/** Reads the tokenizer files of a Hugging Face model folder. */
export function readModelTokenizerFiles(dir: string): ModelTokenizerFiles {
  const tokenizerPath = join(dir, 'tokenizer.json');
  const configPath = join(dir, 'tokenizer_config.json');
  const generationPath = join(dir, 'generation_config.json');
  const templatePath = join(dir, 'chat_template.jinja');

  const tokenizerJson = validate(tokenizerPath, tokenizerJsonSchema, readJson(tokenizerPath));
  const tokenizerConfig = validate(configPath, tokenizerConfigSchema, readJson(configPath));
  const generationConfig = existsSync(generationPath)
    ? validate(generationPath, generationConfigSchema, readJson(generationPath))
    : null;

  let chatTemplate: ChatTemplateSource | null = tokenizerConfig.chat_template ?? null;
  if (chatTemplate === null && existsSync(templatePath)) chatTemplate = readFileSync(templatePath, 'utf8');

  return { tokenizerJson, tokenizerConfig, generationConfig, chatTemplate };
}
