// The error every failed call of the client throws when the server answered: its status, its own
// message, the field it names, and the whole body (a registration refusal lists every field).
export interface FieldError {
  field: string;
  message: string;
}

/** The server answered with an error status; `message` is the server's own. */
export class PagodaApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'PagodaApiError';
  }

  /** Field-level problems: the `errors` list a registration refusal carries, else the one `param`. */
  get fieldErrors(): FieldError[] {
    const list = (this.body as { errors?: unknown } | null)?.errors;
    if (Array.isArray(list)) return list as FieldError[];
    return this.param ? [{ field: this.param, message: this.message }] : [];
  }
}

/** The server's message from an error body: OpenAI's {error: {message}}, Xinference's {detail}, or text. */
export function errorMessage(
  body: unknown,
  status: number,
): { message: string; param: string | null } {
  if (typeof body === 'object' && body !== null) {
    const b = body as { error?: unknown; detail?: unknown; message?: unknown };
    if (
      typeof b.error === 'object' &&
      b.error !== null &&
      typeof (b.error as { message?: unknown }).message === 'string'
    ) {
      const e = b.error as { message: string; param?: unknown };
      return { message: e.message, param: typeof e.param === 'string' ? e.param : null };
    }
    if (typeof b.error === 'string') return { message: b.error, param: null };
    if (typeof b.detail === 'string') return { message: b.detail, param: null };
    if (typeof b.message === 'string') return { message: b.message, param: null };
  }
  if (typeof body === 'string' && body.trim() !== '')
    return { message: body.trim().slice(0, 500), param: null };
  return { message: `HTTP ${status}`, param: null };
}
