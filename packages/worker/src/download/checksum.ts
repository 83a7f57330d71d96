// The checksum a hub listing gives for a file: sha256 of the content for LFS files, the git blob
// sha1 ("blob <size>\0" + content) for the others. A running hash can start from bytes already on disk.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { RepoFile } from './select-files.ts';

export interface FileHasher {
  /** 'sha256' or 'git-sha1'; null when the listing gives nothing to check against. */
  kind: 'sha256' | 'git-sha1' | null;
  expected: string | null;
  update(chunk: Uint8Array): void;
  digest(): string | null;
}

export function hasherFor(file: RepoFile): FileHasher {
  let hash: Hash | null = null;
  let kind: FileHasher['kind'] = null;
  let expected: string | null = null;
  if (file.lfs?.oid) {
    hash = createHash('sha256');
    kind = 'sha256';
    expected = file.lfs.oid;
  } else if (file.oid) {
    hash = createHash('sha1').update(`blob ${file.size}\0`);
    kind = 'git-sha1';
    expected = file.oid;
  }
  return {
    kind,
    expected,
    update: (chunk) => void hash?.update(chunk),
    digest: () => hash?.digest('hex') ?? null,
  };
}

/** Feeds the first `bytes` of `path` (a partial download) to the hasher. */
export async function hashExisting(path: string, bytes: number, hasher: FileHasher): Promise<void> {
  if (bytes === 0 || hasher.kind === null) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 }))
    hasher.update(chunk as Buffer);
}
