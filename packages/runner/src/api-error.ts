// An error that knows its HTTP status, OpenAI error type and stable code (ERROR_CODES in
// @pagoda/protocol); everything the runner rejects is one of these.
import { errorBody, type ErrorBody, type ErrorCode, type ErrorDetails } from '@pagoda/protocol';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type?: string,
    /** One of ERROR_CODES; a remote backend's own code passes through; null: the status's default. */
    readonly code: ErrorCode | string | null = null,
    /** The values the message names (ERROR_PARAMS), or a validation failure's issues. */
    readonly details: ErrorDetails = {},
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
      ...this.details,
      params: { ...(this.param === null ? {} : { field: this.param }), ...this.details.params },
    });
  }
}

export const badRequest = (message: string, param: string | null = null) =>
  new ApiError(400, message, param);

/**
 * Any thrown value as an ApiError. An unknown failure is a 500 with a generic message: its own
 * message can carry file paths; the error handler logs it whole.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(
    500,
    'internal error: the request failed in the runner; its log has the detail',
    null,
    undefined,
    'internal_error',
  );
}
