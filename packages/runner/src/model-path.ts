// Where the builtin engine finds a model: a checkpoint folder (or a config.json for load_format dummy),
// or a name registered under the models directory ($PAGODA_MODEL_DIR, default ./data/models).
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.PAGODA_MODEL_DIR ?? join('data', 'models'));
}

/** The folder or config file for `model`; throws saying where it looked. */
export function resolveModelPath(model: string, env: NodeJS.ProcessEnv = process.env): string {
  if (existsSync(model)) return model;
  const registered = join(modelsDir(env), model);
  if (!isAbsolute(model) && existsSync(registered)) return registered;
  throw new Error(
    `model '${model}' not found: it is neither a checkpoint folder nor a name under ${modelsDir(env)} (set PAGODA_MODEL_DIR to change that directory)`,
  );
}
