// How to call a launched model from outside the dashboard: its OpenAI-compatible endpoint and a short
// program in curl, Python (the openai package) and JavaScript (the openai npm package).
import type { ModelType } from '@pagoda/protocol';

export type SnippetLanguage = 'curl' | 'python' | 'javascript';
export const SNIPPET_LANGUAGES: SnippetLanguage[] = ['curl', 'python', 'javascript'];

/** The route a model of this type answers on, and the request body of a first call. */
export function firstCall(type: ModelType, uid: string): { path: string; body: Record<string, unknown> } {
  if (type === 'embedding') return { path: '/embeddings', body: { model: uid, input: 'Hello' } };
  if (type === 'rerank')
    return { path: '/rerank', body: { model: uid, query: 'Hello', documents: ['Hi there', 'Goodbye'] } };
  return { path: '/chat/completions', body: { model: uid, messages: [{ role: 'user', content: 'Hello' }] } };
}

const py = (s: string) => JSON.stringify(s);
const js = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `baseUrl` ends in /v1 (e.g. http://host:9997/v1). */
export function snippet(lang: SnippetLanguage, type: ModelType, uid: string, baseUrl: string): string {
  const { path, body } = firstCall(type, uid);
  if (lang === 'curl')
    return [
      `curl ${baseUrl}${path} \\`,
      `  -H "Content-Type: application/json" \\`,
      `  -H "Authorization: Bearer $PAGODA_API_KEY" \\`,
      `  -d ${shQuote(JSON.stringify(body))}`,
    ].join('\n');
  if (lang === 'python') {
    const head = ['from openai import OpenAI', '', `client = OpenAI(base_url=${py(baseUrl)}, api_key="YOUR_API_KEY")`];
    if (type === 'embedding')
      return [...head, `result = client.embeddings.create(model=${py(uid)}, input="Hello")`, 'print(len(result.data[0].embedding))'].join('\n');
    if (type === 'rerank')
      return [
        'import httpx',
        '',
        `r = httpx.post(${py(`${baseUrl}${path}`)}, headers={"Authorization": "Bearer YOUR_API_KEY"},`,
        `               json={"model": ${py(uid)}, "query": "Hello", "documents": ["Hi there", "Goodbye"]})`,
        'print(r.json()["results"])',
      ].join('\n');
    return [
      ...head,
      'reply = client.chat.completions.create(',
      `    model=${py(uid)},`,
      '    messages=[{"role": "user", "content": "Hello"}],',
      ')',
      'print(reply.choices[0].message.content)',
    ].join('\n');
  }
  const head = ["import OpenAI from 'openai';", '', `const client = new OpenAI({ baseURL: ${js(baseUrl)}, apiKey: process.env.PAGODA_API_KEY });`];
  if (type === 'embedding')
    return [...head, `const result = await client.embeddings.create({ model: ${js(uid)}, input: 'Hello' });`, 'console.log(result.data[0].embedding.length);'].join('\n');
  if (type === 'rerank')
    return [
      `const r = await fetch(${js(`${baseUrl}${path}`)}, {`,
      "  method: 'POST',",
      "  headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${process.env.PAGODA_API_KEY}` },",
      `  body: JSON.stringify({ model: ${js(uid)}, query: 'Hello', documents: ['Hi there', 'Goodbye'] }),`,
      '});',
      'console.log((await r.json()).results);',
    ].join('\n');
  return [
    ...head,
    'const reply = await client.chat.completions.create({',
    `  model: ${js(uid)},`,
    "  messages: [{ role: 'user', content: 'Hello' }],",
    '});',
    'console.log(reply.choices[0].message.content);',
  ].join('\n');
}
