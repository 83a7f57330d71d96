// Which origins get CORS headers, and what a preflight is answered with.
import { describe, expect, it } from 'vitest';
import { corsHeaders, parseAllowedOrigins } from '../src/cors.ts';

const ask = (origin: string | undefined, preflight = false) => ({
  method: preflight ? 'OPTIONS' : 'POST',
  origin,
  requestMethod: preflight ? 'POST' : undefined,
  requestHeaders: preflight ? 'authorization,content-type' : undefined,
});

describe('cors', () => {
  it('reads JSON lists (vLLM) and comma lists', () => {
    expect(parseAllowedOrigins('["https://a.example", "*"]')).toEqual(['https://a.example', '*']);
    expect(parseAllowedOrigins(' https://a.example, https://b.example ')).toEqual(['https://a.example', 'https://b.example']);
    expect(parseAllowedOrigins('')).toEqual([]);
    expect(() => parseAllowedOrigins('[1]')).toThrow(/list of strings/);
  });

  it('answers only allowed origins; a named origin is echoed with Vary, * stays *', () => {
    expect(corsHeaders(ask(undefined), ['*'])).toBeNull();
    expect(corsHeaders(ask('https://evil.example'), ['https://a.example'])).toBeNull();
    expect(corsHeaders(ask('https://evil.example'), [])).toBeNull();
    expect(corsHeaders(ask('https://a.example'), ['https://a.example'])!.headers).toMatchObject({
      'Access-Control-Allow-Origin': 'https://a.example',
      Vary: 'Origin',
    });
    const any = corsHeaders(ask('https://x.example'), ['*'])!;
    expect(any.headers['Access-Control-Allow-Origin']).toBe('*');
    expect(any.headers).not.toHaveProperty('Vary');
    expect(any.preflight).toBe(false);
  });

  it('a preflight gets the methods and the headers it asked for', () => {
    const pre = corsHeaders(ask('https://a.example', true), ['https://a.example'])!;
    expect(pre.preflight).toBe(true);
    expect(pre.headers['Access-Control-Allow-Methods']).toContain('POST');
    expect(pre.headers['Access-Control-Allow-Headers']).toBe('authorization,content-type');
  });
});
