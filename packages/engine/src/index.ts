// @pagoda/engine: the TypeScript face of Pagoda's native inference engine.
export { Engine, type GenerateOptions } from './engine.ts';
export { PoolingEngine, type PoolingInfo, type PoolingInput } from './pooling-engine.ts';
export {
  EngineClosedError,
  EngineStepError,
  InvalidEngineOptionsError,
  InvalidRequestError,
} from './errors.ts';
export { engineOptionsSchema, samplingParamsSchema } from './options.ts';
export type * from './types.ts';
