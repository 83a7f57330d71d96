// @pagoda/client: Pagoda's management API (Xinference's route shapes) and chat, typed, on fetch.
// The response types are @pagoda/protocol's, re-exported so one import gives the whole SDK.
export { PagodaApiError, errorMessage, type FieldError } from './api-error.ts';
export { chatDeltas } from './chat-stream.ts';
export { cosine, vectorNorm } from './vectors.ts';
export {
  asList,
  DEFAULT_ENDPOINT,
  PagodaClient,
  type ChatOptions,
  type ClientOptions,
  type EmbedOptions,
  type EmbedResult,
  type RerankOptions,
  type RerankResult,
} from './pagoda-client.ts';
export type {
  ApiKeyRequest,
  ApiKeyView,
  BenchRun,
  BenchSummary,
  ChatMessage,
  ClusterDevice,
  ClusterInfo,
  EmbeddingResponse,
  EnginesOf,
  LaunchProgress,
  LaunchRequest,
  ModelFamilyView,
  ModelView,
  PlanResponse,
  RegistrationRequest,
  RegistrationSummary,
  RegistrationUpdated,
  RerankResponse,
  ReplicaView,
  WorkerView,
} from '@pagoda/protocol';
