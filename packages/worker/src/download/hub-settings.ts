// Where models come from and go to: the hub endpoint (HF_ENDPOINT), the token (HF_TOKEN) and the
// cache folder (PAGODA_MODEL_CACHE, else HF_HOME's hub folder's sibling under ~/.cache/pagoda).
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface HubSettings {
  /** Base URL of the hub, without a trailing slash; undefined: the library's default (huggingface.co). */
  endpoint: string | undefined;
  token: string | undefined;
  cacheDir: string;
}

export interface HubSettingsInput {
  endpoint?: string;
  token?: string;
  cacheDir?: string;
}

export function resolveHubSettings(
  input: HubSettingsInput = {},
  env: NodeJS.ProcessEnv = process.env,
): HubSettings {
  const endpoint = (input.endpoint ?? env.HF_ENDPOINT)?.replace(/\/+$/, '') || undefined;
  const token = input.token ?? (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined);
  if (token !== undefined && !token.startsWith('hf_')) {
    throw new Error(
      "HF_TOKEN must be a Hugging Face access token (it starts with 'hf_'); create one at <hub>/settings/tokens",
    );
  }
  const cacheDir =
    input.cacheDir ??
    env.PAGODA_MODEL_CACHE ??
    join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pagoda', 'models');
  return { endpoint, token, cacheDir };
}
