// Where a launch's checkpoint lives on this machine: the given local folder, or the hub repo
// downloaded into the worker's cache first (progress reported as a fraction).
import { existsSync } from 'node:fs';
import type { LaunchJob } from '@pagoda/protocol';
import { downloadModel } from './download/index.ts';

export type DownloadProgress = (fraction: number) => void;

/** The one call into the download module: HF_ENDPOINT and HF_TOKEN honoured, resumable, checksummed. */
async function downloadRepo(repo: string, revision: string | null, cacheDir: string | undefined, onProgress: DownloadProgress, signal: AbortSignal): Promise<string> {
  const { dir } = await downloadModel({ repo, revision: revision ?? undefined, cacheDir, signal, onProgress: (p) => onProgress(p.total > 0 ? p.bytes / p.total : 0) });
  return dir;
}

export async function resolveModelFiles(job: LaunchJob, cacheDir: string | undefined, onProgress: DownloadProgress, signal: AbortSignal): Promise<string> {
  const { model_path, hf_repo_id, revision } = job.source;
  if (model_path && existsSync(model_path)) return model_path;
  if (hf_repo_id) return downloadRepo(hf_repo_id, revision, cacheDir, onProgress, signal);
  throw new Error(`model_path ${model_path} does not exist on this worker and no hf_repo_id was given to download it from`);
}
