// Errors the engine raises to its callers: a bad request (the caller's fault: HTTP 400), a
// closed engine, and a failed step (the engine's fault).

/** A request the engine refused: bad sampling parameter, prompt too long, bad token id. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
}

/** Engine options that cannot work (e.g. max_model_len too large for the KV cache). */
export class InvalidEngineOptionsError extends Error {
  override name = 'InvalidEngineOptionsError';
}

/** The engine was closed (or failed) before or while the request ran. */
export class EngineClosedError extends Error {
  override name = 'EngineClosedError';
}

/** A forward pass failed; every request in flight was ended with it. */
export class EngineStepError extends Error {
  override name = 'EngineStepError';
}
