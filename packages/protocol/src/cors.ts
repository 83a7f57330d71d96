// Cross-origin access to the OpenAI routes, as vLLM's --allowed-origins and Xinference grant it:
// which web origins a browser page may call from, and the response headers that tell the browser so.
// Bearer keys still apply: CORS only lets the page read answers it was already allowed to ask for.

/** `["https://a.example"]` (vLLM's JSON form) or `https://a.example,https://b.example`; `*` for any. */
export function parseAllowedOrigins(raw: string): string[] {
  const text = raw.trim();
  if (text === '') return [];
  if (text.startsWith('[')) {
    const list: unknown = JSON.parse(text);
    if (!Array.isArray(list) || !list.every((o) => typeof o === 'string'))
      throw new Error('allowed origins: a JSON list of strings, e.g. ["https://app.example"]');
    return list.map((o) => o.trim()).filter((o) => o !== '');
  }
  return text.split(',').map((o) => o.trim()).filter((o) => o !== '');
}

export interface CorsRequest {
  method: string;
  origin: string | undefined;
  /** Access-Control-Request-Method: set on a preflight only. */
  requestMethod: string | undefined;
  /** Access-Control-Request-Headers of a preflight. */
  requestHeaders: string | undefined;
}

/**
 * The CORS headers for a request, or null when it has no Origin or the origin is not allowed (the
 * browser then keeps the answer from the page). `preflight` is true for an OPTIONS that asks.
 */
export function corsHeaders(req: CorsRequest, allowed: readonly string[]): { headers: Record<string, string>; preflight: boolean } | null {
  const preflight = req.method === 'OPTIONS' && req.requestMethod !== undefined;
  if (req.origin === undefined) return null;
  const any = allowed.includes('*');
  if (!any && !allowed.includes(req.origin)) return null;
  const headers: Record<string, string> = { 'Access-Control-Allow-Origin': any ? '*' : req.origin };
  if (!any) headers.Vary = 'Origin';
  if (preflight) {
    headers['Access-Control-Allow-Methods'] = 'GET, POST, OPTIONS';
    headers['Access-Control-Allow-Headers'] = req.requestHeaders ?? 'Authorization, Content-Type';
    headers['Access-Control-Max-Age'] = '600';
  } else {
    headers['Access-Control-Expose-Headers'] = 'x-request-id, x-pagoda-replica';
  }
  return { headers, preflight };
}
