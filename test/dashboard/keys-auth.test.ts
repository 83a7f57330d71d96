// API keys and signing in, in Debian's Chromium against the real server: the first key is an admin key
// by default and has a copy button; once auth is on, a browser without a key gets a translated sign-in
// prompt (no raw 401 text, no endless "Reconnecting…", no polling) and gets in with a key it keeps;
// key errors (a taken name, the last admin key) read in the page's language.
/// <reference lib="dom" />
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { startServer, type RunningServer } from '../../packages/server/src/index.ts';
import { PrivateRedis } from '../../packages/server/test/platform-helpers.ts';
import { ensureBuilt, horizontalOverflow, launchChromium, overflowingElements, screenshot, visibleLines } from './browser-helpers.ts';

let redis: PrivateRedis;
let server: RunningServer;
let dataDir: string;
let browser: Browser;
let adminKey = '';
const pageErrors: string[] = [];

async function newPage(width: number, locale: 'en' | 'zh-CN'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: 860 }, locale: locale === 'en' ? 'en-US' : 'zh-CN' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await context.addInitScript((l) => localStorage.setItem('pagoda.locale', l), locale);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return { context, page };
}

async function api(method: string, path: string, key?: string, body?: unknown): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  ensureBuilt();
  redis = await PrivateRedis.create();
  dataDir = mkdtempSync(join(tmpdir(), 'pagoda-keys-'));
  server = await startServer({
    port: 0,
    dataDir,
    databaseUrl: `file:${join(dataDir, 'pagoda.db')}`,
    redisUrl: redis.url,
    redisPrefix: `keys${Date.now().toString(36)}`,
    logLevel: 'silent',
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await redis?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('keys and signing in', () => {
  it('makes the first key an admin key, with a copy button, and keeps it in this browser', async () => {
    const { context, page } = await newPage(1280, 'en');
    await page.goto(`${server.url}/keys`);
    await page.getByRole('heading', { level: 1, name: en['keys.title'] }).waitFor({ timeout: 15_000 });
    const scope = page.getByLabel(en['keys.scope'], { exact: true });
    await expect.poll(() => page.getByText(en['keys.firstAdmin']).count()).toBe(1);
    expect(await scope.inputValue()).toBe('admin');
    await page.getByLabel(en['keys.name'], { exact: true }).fill('ops');
    await page.getByRole('button', { name: en['keys.create'], exact: true }).click();
    const shown = page.getByTestId('new-key');
    await shown.waitFor();
    adminKey = (await shown.innerText()).trim();
    expect(adminKey.length).toBeGreaterThan(20);
    await page.getByRole('button', { name: en['keys.copy'] }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(adminKey);
    expect(await page.evaluate(() => localStorage.getItem('pagoda.apiKey'))).toBe(adminKey);
    // Auth is on now, and this browser still works: the list shows the key.
    expect((await api('GET', '/api/keys')).status).toBe(401);
    await page.getByRole('cell', { name: 'ops', exact: true }).waitFor();
    // The next key defaults to an inference key.
    await expect.poll(() => scope.inputValue()).toBe('inference');

    // A taken name: the server's already_exists, worded from its code beside the name field.
    await page.getByLabel(en['keys.name'], { exact: true }).fill('ops');
    await page.getByRole('button', { name: en['keys.create'], exact: true }).click();
    await page.getByText('ops exists already: pick another name.').waitFor();
    // Revoking the only admin key is refused, and says why.
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: en['keys.revoke'] }).click();
    await page.getByText('ops is the last admin key: create another admin key before revoking it.').waitFor();
    await screenshot(page, 'keys-created-en-1280');
    await context.close();
  });

  it('lists the keys on a phone as stacked rows, each cell with its column name, and nothing sideways', async () => {
    const { context, page } = await newPage(390, 'zh-CN');
    await context.addInitScript((k) => localStorage.setItem('pagoda.apiKey', k), adminKey);
    await page.goto(`${server.url}/keys`);
    // Stacked cells are blocks, so they are found as td elements rather than by their table role.
    const cell = page.locator('td', { hasText: /^ops$/ });
    await cell.waitFor({ timeout: 15_000 });
    expect(await cell.getAttribute('data-label')).toBe(zhCN['keys.name']);
    expect(await horizontalOverflow(page), (await overflowingElements(page)).join(', ')).toBeLessThanOrEqual(0);
    const table = page.locator('table.table-stack');
    expect(await table.evaluate((t) => t.scrollWidth <= t.clientWidth + 1)).toBe(true);
    await screenshot(page, 'keys-list-zh-CN-390');
    await context.close();
  });

  it('asks a browser without a key to sign in, in Chinese on a phone, and stops polling until it does', async () => {
    const { context, page } = await newPage(390, 'zh-CN');
    const calls: string[] = [];
    page.on('request', (r) => {
      if (/\/(v1|api)\//.test(r.url())) calls.push(r.url());
    });
    await page.goto(`${server.url}/models`);
    await page.getByRole('heading', { level: 1, name: zhCN['signin.title'] }).waitFor({ timeout: 15_000 });
    await page.getByText(zhCN['signin.text']).waitFor();
    const live = page.locator('.live');
    await expect.poll(() => live.innerText()).toBe(zhCN['signin.paused']);
    const lines = (await visibleLines(page)).join('\n');
    expect(lines).not.toMatch(/401|API key|Unauthorized|missing or unknown/i);
    expect(lines).not.toContain(zhCN['app.offline']);
    // Nothing polls or reconnects while the prompt is up.
    const before = calls.length;
    await page.waitForTimeout(3_000);
    expect(calls.slice(before)).toEqual([]);
    expect(await horizontalOverflow(page), (await overflowingElements(page)).join(', ')).toBeLessThanOrEqual(0);
    await screenshot(page, 'signin-zh-CN-390');

    // A wrong key is refused in Chinese; the right one is kept and the page comes back, live.
    await page.getByLabel(zhCN['signin.key'], { exact: true }).fill('pgd-not-a-key');
    await page.getByRole('button', { name: zhCN['signin.submit'] }).click();
    await page.getByText(zhCN['signin.invalid']).waitFor();
    await page.getByLabel(zhCN['signin.key'], { exact: true }).fill(adminKey);
    await page.getByRole('button', { name: zhCN['signin.submit'] }).click();
    await page.getByRole('heading', { level: 1, name: zhCN['models.title'] }).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => localStorage.getItem('pagoda.apiKey'))).toBe(adminKey);
    await expect.poll(() => live.innerText(), { timeout: 10_000 }).toBe(zhCN['app.live']);

    // Key errors in Chinese too: a taken name, with no English from the server.
    await page.getByRole('link', { name: zhCN['nav.keys'] }).click();
    await page.getByRole('heading', { level: 1, name: zhCN['keys.title'] }).waitFor();
    await page.getByLabel(zhCN['keys.name'], { exact: true }).fill('ops');
    await page.getByRole('button', { name: zhCN['keys.create'], exact: true }).click();
    await page.getByText('ops 已存在，请换一个名称。').waitFor();
    expect((await visibleLines(page)).join('\n')).not.toMatch(/exists; revoke it|pick another name/);
    expect(await horizontalOverflow(page), (await overflowingElements(page)).join(', ')).toBeLessThanOrEqual(0);
    await screenshot(page, 'keys-error-zh-CN-390');
    await context.close();
  });

  it('lets an inference key in, says in Chinese what needs an admin key, and stops the live feed quietly', async () => {
    const made = await api('POST', '/api/keys', adminKey, { name: 'app', scope: 'inference' });
    expect(made.status).toBe(201);
    const { context, page } = await newPage(1280, 'zh-CN');
    await context.addInitScript((k) => localStorage.setItem('pagoda.apiKey', k), made.json.key as string);
    await page.goto(`${server.url}/keys`);
    await page.getByRole('heading', { level: 1, name: zhCN['keys.title'] }).waitFor({ timeout: 15_000 });
    await page.getByText('密钥“app”是推理密钥；此操作需要管理员密钥。').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('.live').innerText(), { timeout: 10_000 }).toBe(zhCN['signin.noLive']);
    expect((await visibleLines(page)).join('\n')).not.toMatch(/inference key|needs an admin key/);
    await context.close();
  });

  it('shows the same prompt in English on a phone and in Chinese on a desktop', async () => {
    for (const [width, locale] of [[390, 'en'], [1280, 'zh-CN']] as const) {
      const cat = locale === 'en' ? en : zhCN;
      const { context, page } = await newPage(width, locale);
      await page.goto(`${server.url}/chat`);
      await page.getByRole('heading', { level: 1, name: cat['signin.title'] }).waitFor({ timeout: 15_000 });
      await page.getByText(cat['signin.text']).waitFor();
      expect((await visibleLines(page)).join('\n')).not.toMatch(/missing or unknown|Unauthorized|\b401\b/);
      expect(await horizontalOverflow(page), (await overflowingElements(page)).join(', ')).toBeLessThanOrEqual(0);
      await screenshot(page, `signin-${locale}-${width}`);
      await context.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
