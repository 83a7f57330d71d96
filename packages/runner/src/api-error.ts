// An error that knows its HTTP status and OpenAI error type; everything the runner rejects is one of these.
import { errorBody, type ErrorBody } from '@pagoda/protocol';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type?: string,
    readonly code: string | number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ErrorBody {
    return errorBody(this.message, {
      status: this.status,
      type: this.type,
      param: this.param,
      code: this.code,
    });
  }
}

export const badRequest = (message: string, param: string | null = null) =>
  new ApiError(400, message, param);

/** Any thrown value as an ApiError: unknown failures are 500s that keep their message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(500, message);
}
