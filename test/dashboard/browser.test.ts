// The dashboard in Debian's Chromium against the real server, one worker on the CPU engine and
// ../shared/models/stories260k: every page loads cleanly and shows content; launch from the UI, chat
// with streamed text, a custom model's field error, a benchmark with its chart, terminate; keyboard
// and labels; zh-CN has no English left; no sideways overflow at 1280 and 390 px. One server, one
// worker and one launched model are shared, so the steps run in order.
/// <reference lib="dom" />
// playwright-core's types come from the dashboard package that depends on it (type-only: erased at run time).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  Browser,
  BrowserContext,
  Page,
} from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { startServer, type RunningServer } from '../../packages/server/src/index.ts';
import {
  GiB,
  PrivateRedis,
  startWorkerProcess,
  STORIES,
  waitFor,
  type WorkerProcess,
} from '../../packages/server/test/platform_helpers.ts';
import {
  ensureBuilt,
  horizontalOverflow,
  launchChromium,
  overflowingElements,
  screenshot,
  unlabelledControls,
  visibleLines,
} from './browser_helpers.ts';

const TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
const PAGES = [
  { path: '/launch', heading: en['launch.title'], zh: zhCN['launch.title'] },
  { path: '/models', heading: en['models.title'], zh: zhCN['models.title'] },
  { path: '/chat', heading: en['chat.title'], zh: zhCN['chat.title'] },
  { path: '/custom', heading: en['custom.title'], zh: zhCN['custom.title'] },
  { path: '/cluster', heading: en['cluster.title'], zh: zhCN['cluster.title'] },
  { path: '/bench', heading: en['bench.title'], zh: zhCN['bench.title'] },
  { path: '/keys', heading: en['keys.title'], zh: zhCN['keys.title'] },
];
/** A screenshot with real content has many colours (text antialiasing alone gives dozens); a blank page has one. */
const MIN_COLOURS = 40;

let redis: PrivateRedis;
let server: RunningServer;
let worker: WorkerProcess;
let dataDir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];

async function api(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function open(path: string, heading: string): Promise<void> {
  await page.goto(`${server.url}${path}`);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: 15_000 });
}

beforeAll(async () => {
  ensureBuilt();
  redis = await PrivateRedis.create();
  dataDir = mkdtempSync(join(tmpdir(), 'pagoda-dashboard-'));
  const prefix = `dash${Date.now().toString(36)}`;
  server = await startServer({
    port: 0,
    dataDir,
    databaseUrl: `file:${join(dataDir, 'pagoda.db')}`,
    redisUrl: redis.url,
    redisPrefix: prefix,
    logLevel: 'silent',
    reconcileMs: 250,
    resendAfterMs: 2_000,
  });
  worker = startWorkerProcess({
    server: server.url,
    redis: redis.url,
    name: 'w1',
    prefix,
    devices: [{ name: 'declared', memory_total: 8 * GiB }],
  });
  const reg = await api('POST', '/v1/model_registrations/LLM', {
    model_name: 'stories',
    model_path: STORIES,
    chat_template: TEMPLATE,
  });
  expect(reg.status, JSON.stringify(reg.json)).toBe(200);
  await waitFor(
    'the worker to join',
    async () => (await api('GET', '/v1/workers')).json.length === 1,
    30_000,
  );
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`${page.url()}: ${err.message}`));
  page.on('dialog', (d) => void d.accept());
});

afterAll(async () => {
  await browser?.close();
  await worker?.kill('SIGTERM');
  await server?.close();
  await redis?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the dashboard in Chromium', () => {
  it('serves every page (also on reload of a deep link) with content and no console errors', async () => {
    for (const p of PAGES) {
      await open(p.path, p.heading);
      await page.waitForLoadState('networkidle');
      // The cluster charts draw once two samples (2 s apart) are in.
      if (p.path === '/cluster')
        await page
          .locator('figure', { hasText: en['cluster.memoryChart'] })
          .locator('polyline')
          .first()
          .waitFor({ state: 'attached', timeout: 10_000 });
      expect(
        await screenshot(page, `${p.path.slice(1)}-en-1280`),
        `${p.path} looks blank`,
      ).toBeGreaterThan(MIN_COLOURS);
    }
    const root = await fetch(`${server.url}/`);
    expect(root.headers.get('content-type')).toContain('text/html');
    const apiMiss = await fetch(`${server.url}/v1/no-such-route`, {
      headers: { accept: 'text/html' },
    });
    expect(apiMiss.status).toBe(404);
    expect((await apiMiss.json()).error.message).toContain('no route');
    expect(consoleErrors).toEqual([]);
  });

  it('launches stories260k from the catalog with a plan that fits, and shows it ready', async () => {
    await open('/launch', en['launch.title']);
    await page.getByLabel(en['launch.search']).fill('stories');
    await page.getByRole('button', { name: `${en['launch.choose']} stories` }).click();
    await page.getByLabel(en['field.model_uid'], { exact: true }).fill('tiny');
    await page.getByLabel(en['field.gpu_memory_utilization'], { exact: true }).fill('0.3');
    await page.getByLabel(en['field.max_model_len'], { exact: true }).fill('256');
    // Too much memory first: the plan says plainly it will not fit, and offers what would.
    await page.getByLabel(en['field.replica'], { exact: true }).fill('2');
    await page.getByLabel(en['field.gpu_memory_utilization'], { exact: true }).fill('0.9');
    await page.getByText(en['launch.planNoFit']).waitFor({ timeout: 10_000 });
    // ...and offers a setting that would fit, which Apply puts into the form.
    await page.getByText(en['launch.planWouldFit']).waitFor();
    await page
      .locator('.suggestions')
      .getByRole('button', { name: en['common.apply'] })
      .first()
      .click();
    await page.getByText(en['launch.planFits']).waitFor({ timeout: 10_000 });
    expect(
      Number(
        await page.getByLabel(en['field.gpu_memory_utilization'], { exact: true }).inputValue(),
      ),
    ).toBeLessThan(0.9);
    await page.getByLabel(en['field.replica'], { exact: true }).fill('1');
    await page.getByLabel(en['field.gpu_memory_utilization'], { exact: true }).fill('0.3');
    await page.getByText(en['launch.planFits']).waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('.membar-track').count()).toBeGreaterThan(0);
    const cli = await page.locator('pre.cli').innerText();
    expect(cli).toContain('pagoda launch stories --model-uid tiny');
    expect(cli).toContain('--gpu-memory-utilization 0.3');
    expect(await screenshot(page, 'launch-form-en-1280')).toBeGreaterThan(MIN_COLOURS);

    await page.getByRole('button', { name: en['launch.submit'], exact: true }).click();
    await page.waitForURL(/\/models/);
    const panel = page.locator('article', { has: page.getByRole('heading', { name: 'tiny' }) });
    await panel
      .locator('.model-head .badge', { hasText: en['status.ready'] })
      .waitFor({ timeout: 90_000 });
    expect((await api('GET', '/v1/models/tiny')).json.status).toBe('ready');
    await screenshot(page, 'models-ready-en-1280');
  }, 150_000);

  it('chats with the model and shows the answer streaming in, with its tokens and speed', async () => {
    await open('/chat?model=tiny', en['chat.title']);
    await page.getByLabel(en['chat.maxTokens']).fill('48');
    await page.getByLabel(en['chat.temperature']).fill('0');
    await page.getByLabel(en['chat.input']).fill('Once upon a time');
    const response = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
    await page.keyboard.press('Enter');
    // The answer comes as server-sent events, one chunk per step, and the page joins them as they come.
    const sse = await response;
    expect(sse.headers()['content-type']).toContain('text/event-stream');
    const deltas = (await sse.text())
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)).choices?.[0]?.delta?.content ?? '')
      .filter(Boolean);
    expect(deltas.length, 'the answer came in one piece instead of streaming').toBeGreaterThan(2);
    const stats = page.getByTestId('answer-stats');
    await stats.waitFor({ timeout: 30_000 });
    const answer = (await page.getByTestId('answer').innerText()).trim();
    const problem = await page.locator('.note-error').allInnerTexts();
    expect(answer.length, `no answer; the page says: ${problem.join(' ')}`).toBeGreaterThan(0);
    expect(answer).toBe(deltas.join('').trim());
    expect(await stats.innerText()).toMatch(/\d+ tokens · [\d.]+ s · [\d.,]+ tokens\/s/);

    await page.getByText(en['chat.modeCompletion']).click();
    await page.getByLabel(en['chat.input']).fill('The cat');
    await page.getByRole('button', { name: en['chat.send'] }).click();
    await stats.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('answer').innerText()).toMatch(/^The cat.+/s);
    await screenshot(page, 'chat-answer-en-1280');
  }, 90_000);

  it('shows the reason beside the folder field when a custom model has a bad path', async () => {
    await open('/custom', en['custom.title']);
    await page.getByLabel(en['custom.model_name'], { exact: true }).fill('broken');
    await page.getByLabel(en['custom.model_path'], { exact: true }).fill('/no/such/checkpoint');
    await page.getByRole('button', { name: en['custom.register'], exact: true }).click();
    const field = page.locator('.field', {
      has: page.getByLabel(en['custom.model_path'], { exact: true }),
    });
    const error = field.locator('.field-error');
    await error.waitFor({ timeout: 10_000 });
    expect(await error.innerText()).toContain('/no/such/checkpoint');
    expect(
      await page.getByLabel(en['custom.model_path'], { exact: true }).getAttribute('aria-invalid'),
    ).toBe('true');
    expect(
      (await api('GET', '/v1/model_registrations/LLM')).json.some(
        (r: { model_name: string }) => r.model_name === 'broken',
      ),
    ).toBe(false);
    await screenshot(page, 'custom-error-en-1280');
    // Chromium logs the refused registration's 400 as a console error; that one is this test's doing.
    const expected = consoleErrors.filter(
      (e) => e.includes('/custom') && e.includes('status of 400'),
    );
    expect(expected).toHaveLength(1);
    consoleErrors.splice(consoleErrors.indexOf(expected[0]!), 1);
  });

  it('runs a short benchmark with progress and plots it; the run is kept', async () => {
    await open('/bench', en['bench.title']);
    await page.getByLabel(en['bench.numPrompts'], { exact: true }).fill('6');
    await page.getByLabel(en['bench.inputLen'], { exact: true }).fill('16');
    await page.getByLabel(en['bench.outputLen'], { exact: true }).fill('8');
    await page.getByRole('button', { name: en['bench.run'] }).click();
    const chart = page.locator('figure', { hasText: en['bench.chartTtft'] });
    await chart.waitFor({ timeout: 60_000 });
    expect(await chart.locator('svg rect').count()).toBeGreaterThanOrEqual(2);
    const runs = (await api('GET', '/api/bench')).json;
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('done');
    expect(runs[0].summary.completed).toBe(6);
    expect(runs[0].summary.ttft_ms.mean).toBeGreaterThan(0);
    await page.getByRole('cell', { name: en['status.done'] }).waitFor();
    expect(await screenshot(page, 'bench-en-1280')).toBeGreaterThan(MIN_COLOURS);

    // The load shows on Running models: KV cache use and tokens/s come from the runner's metrics.
    await open('/models', en['models.title']);
    const kv = page.locator('.stats div', { hasText: en['models.kvCache'] }).locator('dd');
    await expect.poll(() => kv.innerText(), { timeout: 10_000 }).toMatch(/%$/);
    const speed = page
      .locator('.stats div', { hasText: en['models.tokensPerSecond'] })
      .locator('dd');
    await expect.poll(() => speed.innerText(), { timeout: 10_000 }).toMatch(/^[\d.,]+$/);
  }, 90_000);

  it('is usable from the keyboard and labels every form field', async () => {
    await open('/launch', en['launch.title']);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe(en['app.skip']);
    // Tab through the navigation to the chat link and follow it with Enter.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.textContent)) === en['nav.chat'])
        break;
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: en['chat.title'] }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/chat');
    for (const p of PAGES) {
      await open(p.path, p.heading);
      if (p.path === '/launch')
        await page.getByRole('button', { name: `${en['launch.choose']} stories` }).click();
      expect(await unlabelledControls(page), `unlabelled controls on ${p.path}`).toEqual([]);
    }
  });

  it('holds its layout at 390 px and 1280 px wide', async () => {
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 860 });
      for (const p of PAGES) {
        await open(p.path, p.heading);
        if (p.path === '/launch')
          await page.getByRole('button', { name: `${en['launch.choose']} stories` }).click();
        await page.waitForLoadState('networkidle');
        expect(
          await horizontalOverflow(page),
          `${p.path} overflows sideways at ${width} px: ${(await overflowingElements(page)).join(', ')}`,
        ).toBeLessThanOrEqual(0);
        if (width === 390)
          expect(await screenshot(page, `${p.path.slice(1)}-en-390`)).toBeGreaterThan(MIN_COLOURS);
      }
    }
  }, 90_000);

  it('in Simplified Chinese shows no untranslated English on any page, and remembers the choice', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await open('/launch', en['launch.title']);
    await page.getByLabel(en['app.language']).selectOption('zh-CN');
    await page.getByRole('heading', { level: 1, name: zhCN['launch.title'] }).waitFor();
    // Strings the two catalogs share (Pagoda, CPU, GPU {index}) are not English left behind.
    const english = Object.entries(en)
      .filter(([k, v]) => zhCN[k as keyof typeof en] !== v)
      .map(([, v]) => v.replace(/\{\w+\}/g, '').trim())
      .filter((v) => /[A-Za-z]{3}/.test(v));
    for (const p of PAGES) {
      await page.goto(`${server.url}${p.path}`);
      await page.getByRole('heading', { level: 1, name: p.zh }).waitFor({ timeout: 15_000 });
      if (p.path === '/launch')
        await page.getByRole('button', { name: `${zhCN['launch.choose']} stories` }).click();
      await page.waitForLoadState('networkidle');
      const lines = await visibleLines(page);
      const leftovers = lines.filter((line) =>
        english.some((e) => line === e || (e.includes(' ') && line.includes(e))),
      );
      expect(leftovers, `English on ${p.path} in zh-CN`).toEqual([]);
      await screenshot(page, `${p.path.slice(1)}-zh-CN-1280`);
    }
    expect(await page.evaluate(() => localStorage.getItem('pagoda.locale'))).toBe('zh-CN');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    await page.getByLabel(zhCN['app.language']).selectOption('en');
  }, 90_000);

  it('terminates the model from the Running models page', async () => {
    await page.evaluate(() => localStorage.setItem('pagoda.locale', 'en'));
    await open('/models', en['models.title']);
    const panel = page.locator('article', { has: page.getByRole('heading', { name: 'tiny' }) });
    await panel.getByRole('button', { name: en['models.terminate'] }).click();
    await page.getByText(en['models.empty']).waitFor({ timeout: 30_000 });
    expect((await api('GET', '/v1/models/tiny')).status).toBe(404);
    expect(consoleErrors).toEqual([]);
  }, 60_000);
});
