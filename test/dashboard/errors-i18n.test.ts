// Server errors on the launch and custom-model paths in zh-CN, in Debian's Chromium against the real
// server and a worker declaring two 80 GiB GPUs: a plan that does not fit is said once in Chinese (the
// two GPUs with the same numbers as one problem, with by how much), a field the server refuses reads in
// Chinese beside it, a registration refusal too; the server's English message shows nowhere. English
// at 1280 px and 390 px keeps the same wording in English.
/// <reference lib="dom" />
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { startServer, type RunningServer } from '../../packages/server/src/index.ts';
import { GiB, PrivateRedis, startWorkerProcess, waitFor, type WorkerProcess } from '../../packages/server/test/platform-helpers.ts';
import { ensureBuilt, horizontalOverflow, launchChromium, overflowingElements, screenshot, visibleLines } from './browser-helpers.ts';

const MODEL = 'llama-3.3-instruct';
let redis: PrivateRedis;
let server: RunningServer;
let worker: WorkerProcess;
let dataDir: string;
let browser: Browser;
const pageErrors: string[] = [];

async function newPage(width: number, locale: 'en' | 'zh-CN'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, locale: locale === 'en' ? 'en-US' : 'zh-CN' });
  await context.addInitScript((l) => localStorage.setItem('pagoda.locale', l), locale);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return { context, page };
}

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

/** Visible text of the page as one string. */
const pageText = async (page: Page) => (await visibleLines(page)).join('\n');

/** The launch form of MODEL with one GPU per replica (the plan's refusal does not depend on "auto"). */
async function openLaunch(page: Page, locale: 'en' | 'zh-CN'): Promise<void> {
  const cat = locale === 'en' ? en : zhCN;
  await page.goto(`${server.url}/launch`);
  await page.getByRole('heading', { level: 1, name: cat['launch.title'] }).waitFor({ timeout: 15_000 });
  await page.getByLabel(cat['launch.search']).fill(MODEL);
  await page.getByRole('button', { name: `${cat['launch.choose']} ${MODEL}` }).click();
  await page.getByLabel(cat['field.n_gpu'], { exact: true }).fill('1');
}

beforeAll(async () => {
  ensureBuilt();
  redis = await PrivateRedis.create();
  dataDir = mkdtempSync(join(tmpdir(), 'pagoda-errors-'));
  const prefix = `err${Date.now().toString(36)}`;
  server = await startServer({
    port: 0,
    dataDir,
    databaseUrl: `file:${join(dataDir, 'pagoda.db')}`,
    redisUrl: redis.url,
    redisPrefix: prefix,
    logLevel: 'silent',
  });
  worker = startWorkerProcess({
    server: server.url,
    redis: redis.url,
    name: 'w1',
    prefix,
    devices: [
      { name: 'declared', memory_total: 80 * GiB },
      { name: 'declared', memory_total: 80 * GiB },
    ],
  });
  await waitFor('the worker to join', async () => (await server.platform.db.prisma.worker.findUnique({ where: { id: 'w1' } }))?.status === 'alive', 30_000);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await worker?.kill('SIGTERM');
  await server?.close();
  await redis?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('server errors in the page’s language', () => {
  it('says a plan that does not fit once, in Chinese at 1280 and 390 px, with no English server text', async () => {
    const refused = await post('/api/plan', { model_name: MODEL, n_gpu: 1 });
    expect(refused.json.fits).toBe(false);
    // The server merged the two GPUs: one problem naming both, with by how much.
    const details = refused.json.plan.problem_details;
    expect(details).toHaveLength(1);
    expect(details[0]).toMatchObject({ kind: 'over_budget', worker: 'w1', gpus: [0, 1] });
    expect(details[0].over).toBeGreaterThan(0);
    expect(refused.json.plan.problems[0]).toMatch(/GPU 0, 1 \(80.00 GiB each\)/);
    for (const width of [1280, 390]) {
      const { context, page } = await newPage(width, 'zh-CN');
      await openLaunch(page, 'zh-CN');
      await page.getByText(zhCN['launch.planNoFit'], { exact: true }).waitFor({ timeout: 10_000 });
      const note = page.locator('.plan-refused .note-error').first();
      const text = await note.innerText();
      expect(text).toContain('w1 的 GPU 0, 1（每块 80 GiB）');
      expect(text).toMatch(/比预算 [\d.]+ GiB（利用率 0\.9）多出 [\d.]+ GiB/);
      // Said once: the GPUs are named together, not a sentence per GPU.
      expect(text.match(/GPU/g)).toHaveLength(1);
      const visible = await pageText(page);
      expect(visible).not.toContain(refused.json.message);
      expect(visible).not.toMatch(/does not fit|exceed gpu_memory_utilization|available of/);
      expect(await horizontalOverflow(page), (await overflowingElements(page)).join(', ')).toBeLessThanOrEqual(0);
      await screenshot(page, `launch-nofit-zh-CN-${width}`);
      if (width === 1280) {
        // On the CPU engine the refusal has no GPU plan: its problem still comes as values, in Chinese.
        const cpu = await post('/api/plan', { model_name: MODEL, n_gpu: 0 });
        expect(cpu.json.problem_details).toEqual([expect.objectContaining({ kind: 'cpu_memory', worker: 'w1' })]);
        await page.getByLabel(zhCN['field.n_gpu'], { exact: true }).fill('0');
        await expect.poll(() => note.innerText(), { timeout: 10_000 }).toContain('在 CPU 上每个副本需要');
        expect(await pageText(page)).not.toContain(cpu.json.message);
      }
      await context.close();
    }
  }, 60_000);

  it('puts a field the server refuses beside it, in Chinese and in English', async () => {
    const bad = await post('/api/plan', { model_name: MODEL, max_model_len: 0 });
    expect(bad.status).toBe(400);
    expect(bad.json.error.issues[0]).toMatchObject({ field: 'max_model_len', issue: 'too_small', minimum: 1 });
    for (const [width, locale] of [[390, 'zh-CN'], [1280, 'en']] as const) {
      const cat = locale === 'en' ? en : zhCN;
      const { context, page } = await newPage(width, locale);
      await openLaunch(page, locale);
      const input = page.getByLabel(cat['field.max_model_len'], { exact: true });
      await input.fill('0');
      const field = page.locator('.field', { has: input }).locator('.field-error');
      await field.waitFor({ timeout: 10_000 });
      expect(await field.innerText()).toBe(locale === 'en' ? 'must be at least 1' : '不能小于 1');
      expect(await input.getAttribute('aria-invalid')).toBe('true');
      if (locale === 'zh-CN') expect(await pageText(page)).not.toContain(bad.json.error.message);
      await context.close();
    }
  }, 30_000);

  it('words a custom model’s refused folder in Chinese beside the folder field', async () => {
    const refused = await post('/v1/model_registrations/LLM', { model_name: 'broken', model_path: '/no/such/checkpoint' });
    expect(refused.json.errors[0]).toMatchObject({ field: 'model_path', problem: 'path_missing' });
    const { context, page } = await newPage(390, 'zh-CN');
    await page.goto(`${server.url}/custom`);
    await page.getByRole('heading', { level: 1, name: zhCN['custom.title'] }).waitFor({ timeout: 15_000 });
    await page.getByLabel(zhCN['custom.model_name'], { exact: true }).fill('broken');
    await page.getByLabel(zhCN['custom.model_path'], { exact: true }).fill('/no/such/checkpoint');
    await page.getByRole('button', { name: zhCN['custom.register'], exact: true }).click();
    const field = page.locator('.field', { has: page.getByLabel(zhCN['custom.model_path'], { exact: true }) }).locator('.field-error');
    await field.waitFor({ timeout: 10_000 });
    expect(await field.innerText()).toBe('服务器上不存在 /no/such/checkpoint。');
    expect(await pageText(page)).not.toContain('does not exist');
    await screenshot(page, 'custom-error-zh-CN-390');
    await context.close();
    expect(pageErrors).toEqual([]);
  });
});
