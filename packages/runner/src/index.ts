// @pagoda/runner: one model behind an OpenAI-compatible HTTP API, over a pluggable backend.
export type {
  Backend,
  BackendInfo,
  BackendState,
  BackendStats,
  GenerateContext,
} from './backend.ts';
export { ApiError } from './api-error.ts';
export { createApp } from './app.ts';
export { startRunner, type RunningRunner } from './serve.ts';
export {
  ServeOptionsSchema,
  BACKEND_KINDS,
  DEFAULT_MAX_NUM_SEQS,
  type ServeOptions,
  type ServeOptionsInput,
} from './serve-options.ts';
export { RemoteBackend } from './backends/remote.ts';
export { vllmArgs } from './backends/vllm.ts';
export { llamaServerArgs } from './backends/llamacpp.ts';
export { readServerSentEvents } from './backends/sse-reader.ts';
