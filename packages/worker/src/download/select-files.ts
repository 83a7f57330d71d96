// Which files of a hub repository a launch needs: for a safetensors checkpoint the weights, the
// config and the tokenizer files; for GGUF the one file of the chosen quantization.
export interface RepoFile {
  path: string;
  size: number;
  /** Git blob id (sha1) of the file as stored; for LFS files, of the pointer. */
  oid?: string;
  /** Present for LFS files: oid is the sha256 of the content. */
  lfs?: { oid: string; size: number };
}

const CHECKPOINT_FILES = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'model.safetensors.index.json',
]);

export type FileSelection =
  { format: 'safetensors' } | { format: 'gguf'; file: string } | { format: 'all' };

/** The files to fetch, or an error that names what the repository lacks. */
export function selectFiles(
  repo: string,
  files: readonly RepoFile[],
  selection: FileSelection,
): RepoFile[] {
  if (selection.format === 'all') return [...files];
  if (selection.format === 'gguf') {
    const file = files.find((f) => f.path === selection.file);
    if (!file) {
      const ggufs = files.filter((f) => f.path.endsWith('.gguf')).map((f) => f.path);
      throw new Error(
        `${repo} has no file '${selection.file}'; its GGUF files: ${ggufs.join(', ') || 'none'}`,
      );
    }
    return [file];
  }
  // Top-level files only: subfolders hold other variants (onnx/, original/ consolidated weights).
  const chosen = files.filter(
    (f) =>
      !f.path.includes('/') && (CHECKPOINT_FILES.has(f.path) || f.path.endsWith('.safetensors')),
  );
  for (const required of ['config.json', 'tokenizer.json']) {
    if (!chosen.some((f) => f.path === required))
      throw new Error(`${repo} has no ${required}; it is not a checkpoint the engine can load`);
  }
  if (!chosen.some((f) => f.path.endsWith('.safetensors')))
    throw new Error(`${repo} has no .safetensors weights at its top level`);
  return chosen;
}
