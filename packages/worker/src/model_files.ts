// Where a launch's checkpoint lives on this machine: the given local folder, or the hub repo
// downloaded into the worker's cache first (progress reported as a fraction).
import { existsSync } from 'node:fs';
import type { LaunchJob } from '@pagoda/protocol';

export type DownloadProgress = (fraction: number) => void;

/** The one call into the download module (packages/worker/src/download). */
async function downloadRepo(repo: string, revision: string | null, cacheDir: string, onProgress: DownloadProgress, signal: AbortSignal): Promise<string> {
  const mod = (await import('./download/index.ts').catch(() => null)) as {
    downloadModel?: (opts: { repo: string; revision?: string; cacheDir: string; onProgress?: (p: { fraction: number }) => void; signal?: AbortSignal }) => Promise<{ path: string }>;
  } | null;
  if (!mod?.downloadModel) throw new Error(`this worker cannot download ${repo}: the download module is missing; give model_path to a local checkpoint`);
  const { path } = await mod.downloadModel({ repo, revision: revision ?? undefined, cacheDir, onProgress: (p) => onProgress(p.fraction), signal });
  return path;
}

export async function resolveModelFiles(job: LaunchJob, cacheDir: string, onProgress: DownloadProgress, signal: AbortSignal): Promise<string> {
  const { model_path, hf_repo_id, revision } = job.source;
  if (model_path && existsSync(model_path)) return model_path;
  if (hf_repo_id) return downloadRepo(hf_repo_id, revision, cacheDir, onProgress, signal);
  throw new Error(`model_path ${model_path} does not exist on this worker and no hf_repo_id was given to download it from`);
}
