// Model download from the Hugging Face hub into the worker's cache.
export {
  downloadModel,
  modelCacheDir,
  ChecksumError,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  type DownloadedFile,
} from './download-model.ts';
export { resolveHubSettings, type HubSettings, type HubSettingsInput } from './hub-settings.ts';
export { selectFiles, type FileSelection, type RepoFile } from './select-files.ts';
