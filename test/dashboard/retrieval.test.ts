// The retrieval page in Debian's Chromium against the real server and one worker: an embedding
// model and a reranker (../shared/models/wave2) launched through the API, a query and passages typed
// in, both rankings shown with the scores the endpoints give, in the order they give.
/// <reference lib="dom" />
import type { Browser, Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { startOneWorkerCluster, type OneWorkerCluster } from '../../packages/server/test/one-worker-cluster.ts';
import { ROOT, waitFor } from '../../packages/server/test/platform-helpers.ts';
import { ensureBuilt, horizontalOverflow, launchChromium, overflowingElements, screenshot, visibleLines } from './browser-helpers.ts';

const WAVE2 = join(ROOT, '../shared/models/wave2');
const QUERY = 'what is the capital of france';
const PASSAGES = ['Paris is the capital and largest city of France.', 'The quick brown fox jumps over the lazy dog.', 'Spiders have eight legs.'];

let c: OneWorkerCluster;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  ensureBuilt();
  c = await startOneWorkerCluster('retrieval');
  expect((await c.api('POST', '/v1/model_registrations/embedding', { model_name: 'emb', model_path: join(WAVE2, 'tiny-bert-embed') })).status).toBe(200);
  expect((await c.api('POST', '/v1/model_registrations/rerank', { model_name: 'rr', model_path: join(WAVE2, 'tiny-bert-rerank') })).status).toBe(200);
  for (const [name, uid] of [['emb', 'e1'], ['rr', 'r1']]) expect((await c.api('POST', '/v1/models', { model_name: name, model_uid: uid })).status).toBe(200);
  for (const uid of ['e1', 'r1'])
    await waitFor(`${uid} ready`, async () => (await c.api('GET', `/v1/models/${uid}/progress`)).json.status === 'ready', 90_000, 200);
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })).newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await c?.close();
});

async function ranking(label: string): Promise<{ score: number; text: string }[]> {
  const items = page.getByRole('region', { name: label }).locator('li');
  await items.first().waitFor({ timeout: 15_000 });
  return (await items.allInnerTexts()).map((line) => {
    const [score, ...rest] = line.trim().split(' ');
    return { score: Number(score), text: rest.join(' ') };
  });
}

describe('the retrieval page', () => {
  it('ranks passages by embedding cosine and by the reranker, as the endpoints score them', async () => {
    await page.goto(`${c.server.url}/retrieval`);
    await page.getByRole('heading', { level: 1, name: en['retrieval.title'] }).waitFor({ timeout: 15_000 });
    await expect.poll(() => page.getByLabel(en['retrieval.embedder']).inputValue(), { timeout: 10_000 }).toBe('e1');
    await expect.poll(() => page.getByLabel(en['retrieval.reranker']).inputValue()).toBe('r1');
    await page.getByLabel(en['retrieval.query']).fill(QUERY);
    await page.getByLabel(en['retrieval.passages']).fill(PASSAGES.join('\n'));
    await page.getByRole('button', { name: en['retrieval.rank'] }).click();

    const byReranker = await ranking(en['retrieval.byReranker']);
    const api = await c.api('POST', '/v1/rerank', { model: 'r1', query: QUERY, documents: PASSAGES });
    const expected = (api.json.results as { index: number; relevance_score: number }[]).map((r) => ({ text: PASSAGES[r.index]!, score: r.relevance_score }));
    expect(byReranker.map((r) => r.text)).toEqual(expected.map((r) => r.text));
    for (const [i, r] of byReranker.entries()) expect(Math.abs(r.score - expected[i]!.score)).toBeLessThan(1e-3);

    const byEmbedding = await ranking(en['retrieval.byEmbedding']);
    expect(byEmbedding.map((r) => r.text).sort()).toEqual([...PASSAGES].sort());
    const scores = byEmbedding.map((r) => r.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const s of scores) expect(Math.abs(s)).toBeLessThanOrEqual(1);
    expect(consoleErrors).toEqual([]);
  });

  it('ranks the same in Simplified Chinese and on a phone, with nothing English left and no sideways scroll', async () => {
    const english = Object.entries(en)
      .filter(([k, v]) => k.startsWith('retrieval.') && zhCN[k as keyof typeof en] !== v)
      .map(([, v]) => v);
    for (const [width, locale] of [[390, 'zh-CN'], [1280, 'zh-CN'], [390, 'en']] as const) {
      const cat = locale === 'en' ? en : zhCN;
      const context = await browser.newContext({ viewport: { width, height: 860 }, locale: locale === 'en' ? 'en-US' : 'zh-CN' });
      await context.addInitScript((l) => localStorage.setItem('pagoda.locale', l), locale);
      const p = await context.newPage();
      p.on('pageerror', (err) => consoleErrors.push(err.message));
      await p.goto(`${c.server.url}/retrieval`);
      await p.getByRole('heading', { level: 1, name: cat['retrieval.title'] }).waitFor({ timeout: 15_000 });
      await expect.poll(() => p.getByLabel(cat['retrieval.embedder']).inputValue(), { timeout: 10_000 }).toBe('e1');
      await p.getByLabel(cat['retrieval.query']).fill(QUERY);
      await p.getByLabel(cat['retrieval.passages']).fill(PASSAGES.join('\n'));
      await p.getByRole('button', { name: cat['retrieval.rank'] }).click();
      for (const label of [cat['retrieval.byReranker'], cat['retrieval.byEmbedding']]) {
        const items = p.getByRole('region', { name: label }).locator('li');
        await expect.poll(() => items.count(), { timeout: 15_000 }).toBe(PASSAGES.length);
      }
      // The reranker puts the Paris passage first whatever the language of the page.
      expect(await p.getByRole('region', { name: cat['retrieval.byReranker'] }).locator('li').first().innerText()).toContain('Paris');
      if (locale === 'zh-CN') {
        const lines = await visibleLines(p);
        expect(lines.filter((l) => english.some((e) => l.includes(e)))).toEqual([]);
      }
      expect(await horizontalOverflow(p), (await overflowingElements(p)).join(', ')).toBeLessThanOrEqual(0);
      await screenshot(p, `retrieval-${locale}-${width}`);
      await context.close();
    }
    expect(consoleErrors).toEqual([]);
  }, 60_000);
});
