// Downloads a model's files from the Hugging Face hub (@huggingface/hub) into the cache folder:
// per-file progress, resume from a partial file after an interruption (within a call by retrying,
// across calls from what is on disk), and a checksum per file against the hub's listing.
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { downloadFile, listFiles } from '@huggingface/hub';
import { hashExisting, hasherFor } from './checksum.ts';
import { resolveHubSettings, type HubSettingsInput } from './hub-settings.ts';
import { selectFiles, type FileSelection, type RepoFile } from './select-files.ts';

export interface DownloadProgress {
  file: string;
  /** Bytes of this file on disk (resumed bytes included). */
  fileBytes: number;
  fileTotal: number;
  /** Bytes of all selected files on disk, and their total. */
  bytes: number;
  total: number;
  /** "cached": the file was already complete; "done": just downloaded and verified. */
  phase: 'downloading' | 'done' | 'cached';
}

export interface DownloadOptions extends HubSettingsInput {
  /** owner/name on the hub. */
  repo: string;
  revision?: string;
  /** Default: a safetensors checkpoint. */
  selection?: FileSelection;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Resumes within this call after a broken transfer, this many times (default 3). */
  retries?: number;
  /** Least milliseconds between two progress calls for one file (default 200). */
  progressIntervalMs?: number;
  fetch?: typeof fetch;
}

export interface DownloadedFile {
  path: string;
  size: number;
  /** "sha256" (LFS), "git-sha1" (small files), or null when the listing gave none to check. */
  checksum: 'sha256' | 'git-sha1' | null;
  cached: boolean;
}

export interface DownloadResult {
  /** The folder holding the files (what `pagoda serve` / the runner loads). */
  dir: string;
  files: DownloadedFile[];
}

/** A downloaded file does not match the hub's checksum; the partial file has been removed. */
export class ChecksumError extends Error {
  constructor(
    readonly file: string,
    readonly kind: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${file}: ${kind} ${actual} does not match the hub's ${expected}; the download was corrupted and has been deleted, download again`,
    );
    this.name = 'ChecksumError';
  }
}

/** Files being transferred by this process, by target path. */
const inflight = new Map<string, Promise<void>>();

/** The folder a repo's revision is cached in: <cacheDir>/<owner>--<name>/<revision>. */
export function modelCacheDir(cacheDir: string, repo: string, revision = 'main'): string {
  return join(cacheDir, repo.replace('/', '--'), revision.replace(/[/\\]/g, '_'));
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Permanent failures are not retried: a missing file, refused access, a checksum or an abort. */
function permanent(err: unknown): boolean {
  if (err instanceof ChecksumError) return true;
  const status = (err as { statusCode?: number }).statusCode;
  return (
    (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) ||
    (err as Error).name === 'AbortError'
  );
}

export async function downloadModel(opts: DownloadOptions): Promise<DownloadResult> {
  const settings = resolveHubSettings(opts);
  const revision = opts.revision ?? 'main';
  const retries = opts.retries ?? 3;
  const interval = opts.progressIntervalMs ?? 200;
  const signal = opts.signal;
  const baseFetch = opts.fetch ?? fetch;
  const hubFetch: typeof fetch = (input, init) => baseFetch(input, { ...init, signal });
  const hub = {
    repo: opts.repo,
    revision,
    hubUrl: settings.endpoint,
    accessToken: settings.token,
    fetch: hubFetch,
  };

  const listing: RepoFile[] = [];
  try {
    for await (const entry of listFiles({ ...hub, recursive: true })) {
      if (entry.type === 'file')
        listing.push({ path: entry.path, size: entry.size, oid: entry.oid, lfs: entry.lfs });
    }
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    const hint =
      status === 401 || status === 403
        ? ': the repository is gated or private; set HF_TOKEN to a token with access'
        : status === 404
          ? ': no such repository or revision'
          : '';
    throw new Error(
      `cannot list ${opts.repo}@${revision} on ${settings.endpoint ?? 'the hub'}${hint} (${describe(err)})`,
      { cause: err },
    );
  }
  const files = selectFiles(opts.repo, listing, opts.selection ?? { format: 'safetensors' });
  const dir = modelCacheDir(settings.cacheDir, opts.repo, revision);
  const total = files.reduce((s, f) => s + f.size, 0);
  const onDisk = new Map<string, number>();
  const bytes = () => [...onDisk.values()].reduce((s, n) => s + n, 0);
  const report = (file: RepoFile, phase: DownloadProgress['phase']) =>
    opts.onProgress?.({
      file: file.path,
      fileBytes: onDisk.get(file.path) ?? 0,
      fileTotal: file.size,
      bytes: bytes(),
      total,
      phase,
    });

  const done: DownloadedFile[] = [];
  for (const file of files) {
    signal?.throwIfAborted();
    const target = join(dir, file.path);
    const checksum = hasherFor(file).kind;
    // Two launches of one model on this worker must not append to the same partial file: the
    // second waits for the first's transfer, then finds the file complete (or takes over).
    for (let running = inflight.get(target); running; running = inflight.get(target)) {
      await running.catch(() => {});
    }
    // A file is renamed into place only after its checksum matched, so a complete one is trusted.
    if ((await sizeOf(target)) === file.size) {
      onDisk.set(file.path, file.size);
      report(file, 'cached');
      done.push({ path: file.path, size: file.size, checksum, cached: true });
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    const transfer = fetchOne(file, target, { hub, retries, interval, signal, onDisk, report });
    inflight.set(target, transfer);
    try {
      await transfer;
    } finally {
      inflight.delete(target);
    }
    done.push({ path: file.path, size: file.size, checksum, cached: false });
  }
  return { dir, files: done };
}

interface FetchContext {
  hub: {
    repo: string;
    revision: string;
    hubUrl: string | undefined;
    accessToken: string | undefined;
    fetch: typeof fetch;
  };
  retries: number;
  interval: number;
  signal: AbortSignal | undefined;
  onDisk: Map<string, number>;
  report(file: RepoFile, phase: DownloadProgress['phase']): void;
}

/** One file into `<target>.partial`, resuming from what the partial holds, then verified and renamed. */
async function fetchOne(file: RepoFile, target: string, ctx: FetchContext): Promise<void> {
  const partial = `${target}.partial`;
  for (let attempt = 0; ; attempt++) {
    let have = (await sizeOf(partial)) ?? 0;
    if (have > file.size) {
      await rm(partial, { force: true });
      have = 0;
    }
    ctx.onDisk.set(file.path, have);
    const hasher = hasherFor(file);
    await hashExisting(partial, have, hasher);
    try {
      if (have < file.size) {
        const blob = await downloadFile({ ...ctx.hub, path: file.path });
        if (!blob)
          throw Object.assign(new Error(`${file.path} is listed but the hub has no such file`), {
            statusCode: 404,
          });
        const handle = await open(partial, 'a');
        try {
          let last = 0;
          for await (const chunk of (have > 0
            ? blob.slice(have)
            : blob
          ).stream() as unknown as AsyncIterable<Uint8Array>) {
            await handle.write(chunk);
            hasher.update(chunk);
            have += chunk.byteLength;
            ctx.onDisk.set(file.path, have);
            if (Date.now() - last >= ctx.interval) {
              last = Date.now();
              ctx.report(file, 'downloading');
            }
          }
        } finally {
          await handle.close();
        }
        if (have !== file.size)
          throw new Error(`${file.path}: the transfer ended at ${have} of ${file.size} bytes`);
      }
      const actual = hasher.digest();
      if (hasher.expected !== null && actual !== null && actual !== hasher.expected) {
        await rm(partial, { force: true });
        ctx.onDisk.set(file.path, 0);
        throw new ChecksumError(file.path, hasher.kind!, hasher.expected, actual);
      }
      await rename(partial, target);
      ctx.report(file, 'done');
      return;
    } catch (err) {
      if (ctx.signal?.aborted) throw ctx.signal.reason ?? err;
      if (permanent(err)) throw err;
      if (attempt >= ctx.retries) {
        const kept = existsSync(partial)
          ? ` (${have} of ${file.size} bytes kept in ${partial}; the next download resumes from there)`
          : '';
        throw new Error(
          `download of ${file.path} failed after ${attempt + 1} attempt${attempt ? 's' : ''}: ${describe(err)}${kept}`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
    }
  }
}
