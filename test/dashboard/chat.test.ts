// The chat page in Debian's Chromium against the real server, one worker on the CPU engine and
// stories260k: the finish reason when max_tokens cuts an answer, conversations kept across navigation
// and reload (several, renamed, deleted), regenerate, edit and resend, the warning before a mode switch
// would lose typed input, markdown and highlighted code rendered safely with a copy button, and on a
// phone the conversation first with the settings folded; the error paths in zh-CN read in Chinese.
/// <reference lib="dom" />
import type { Browser, BrowserContext, Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { startOneWorkerCluster, TEMPLATE, type OneWorkerCluster } from '../../packages/server/test/one-worker-cluster.ts';
import { STORIES, waitFor } from '../../packages/server/test/platform-helpers.ts';
import { ensureBuilt, horizontalOverflow, launchChromium, overflowingElements, screenshot } from './browser-helpers.ts';

let c: OneWorkerCluster;
let browser: Browser;
const pageErrors: string[] = [];

async function newPage(width: number, locale: 'en' | 'zh-CN'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: 860 }, locale: locale === 'en' ? 'en-US' : 'zh-CN' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: c.server.url });
  await context.addInitScript((l) => localStorage.setItem('pagoda.locale', l), locale);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return { context, page };
}

async function openChat(page: Page, locale: 'en' | 'zh-CN'): Promise<void> {
  const cat = locale === 'en' ? en : zhCN;
  await page.goto(`${c.server.url}/chat?model=tiny`);
  await page.getByRole('heading', { level: 1, name: cat['chat.title'] }).waitFor({ timeout: 15_000 });
  await expect.poll(() => page.getByLabel(cat['chat.model'], { exact: true }).inputValue(), { timeout: 10_000 }).toBe('tiny');
}

/** Sends `text` and waits for the answer's statistics line (the stream has ended). */
async function ask(page: Page, label: string, text: string): Promise<void> {
  const before = await page.getByTestId('answer-stats').count();
  await page.getByLabel(label, { exact: true }).fill(text);
  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByTestId('answer-stats').count(), { timeout: 30_000 }).toBeGreaterThan(before);
}

beforeAll(async () => {
  ensureBuilt();
  c = await startOneWorkerCluster('chat');
  expect((await c.api('POST', '/v1/model_registrations/LLM', { model_name: 'stories', model_path: STORIES, chat_template: TEMPLATE })).status).toBe(200);
  expect((await c.api('POST', '/v1/models', { model_name: 'stories', model_uid: 'tiny', max_model_len: 256 })).status).toBe(200);
  await waitFor('tiny ready', async () => (await c.api('GET', '/v1/models/tiny/progress')).json.status === 'ready', 90_000, 200);
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await c?.close();
});

describe('the chat page', () => {
  it('says an answer was cut by max_tokens, and keeps the conversation across navigation and reload', async () => {
    const { context, page } = await newPage(1280, 'en');
    await openChat(page, 'en');
    await page.getByLabel(en['chat.maxTokens']).fill('6');
    await page.getByLabel(en['chat.temperature']).fill('0');
    await ask(page, en['chat.input'], 'Once upon a time');
    await expect(page.getByTestId('finish-reason').innerText()).resolves.toBe(en['chat.finish.length']);
    const answer = await page.getByTestId('answer').innerText();
    expect(answer.trim().length).toBeGreaterThan(0);
    // Auto-titled from the first message, in the list.
    await page.locator('.chat-list').getByText('Once upon a time').waitFor();

    // Away and back through the navigation, then a reload: the same turns.
    await page.getByRole('link', { name: en['nav.models'], exact: true }).click();
    await page.getByRole('heading', { level: 1, name: en['models.title'] }).waitFor();
    await page.getByRole('link', { name: en['nav.chat'], exact: true }).click();
    await page.getByTestId('answer').waitFor();
    expect(await page.getByTestId('question').innerText()).toBe('Once upon a time');
    expect(await page.getByTestId('answer').innerText()).toBe(answer);
    await page.reload();
    await page.getByTestId('answer').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('answer').innerText()).toBe(answer);
    expect(await page.getByTestId('finish-reason').innerText()).toBe(en['chat.finish.length']);
    // The sampling settings are kept too.
    expect(await page.getByLabel(en['chat.maxTokens']).inputValue()).toBe('6');

    // Regenerate: the same question asked again (greedy: the same answer), still one exchange.
    const asked: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/v1/chat/completions')) asked.push(r.postData() ?? '');
    });
    await page.getByRole('button', { name: en['chat.regenerate'] }).click();
    await expect.poll(() => asked.length).toBe(1);
    await expect.poll(() => page.getByTestId('answer-stats').count(), { timeout: 30_000 }).toBe(1);
    expect(await page.getByTestId('answer').innerText()).toBe(answer);
    expect(JSON.parse(asked[0]!).messages.at(-1).content).toBe('Once upon a time');

    // Edit the question: it is replaced and answered again, nothing after it kept.
    await page.getByRole('button', { name: en['chat.edit'] }).click();
    await page.getByLabel(en['chat.edit'], { exact: true }).fill('The dog ran');
    await page.getByRole('button', { name: en['chat.saveEdit'] }).click();
    await expect.poll(() => asked.length).toBe(2);
    await expect.poll(() => page.getByTestId('answer-stats').count(), { timeout: 30_000 }).toBe(1);
    expect(JSON.parse(asked[1]!).messages).toEqual([{ role: 'user', content: 'The dog ran' }]);
    expect(await page.getByTestId('question').allInnerTexts()).toEqual(['The dog ran']);

    // Copy a message.
    await page.locator('.turn-assistant').getByRole('button', { name: en['chat.copy'] }).click();
    // The answer's markdown source, as the model wrote it.
    expect((await page.evaluate(() => navigator.clipboard.readText())).trim()).toBe((await page.getByTestId('answer').innerText()).trim());

    // A second conversation; the first stays in the list, can be renamed and deleted.
    await page.getByRole('button', { name: en['chat.newChat'] }).click();
    expect(await page.getByTestId('answer').count()).toBe(0);
    await ask(page, en['chat.input'], 'A cat');
    const items = page.locator('.chat-list li');
    await expect.poll(() => items.count()).toBe(2);
    page.once('dialog', (d) => void d.accept('Dog story'));
    await page.getByRole('button', { name: `${en['chat.rename']}: The dog ran` }).click();
    await page.locator('.chat-list').getByText('Dog story').waitFor();
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: `${en['chat.deleteConversation']}: Dog story` }).click();
    await expect.poll(() => items.count()).toBe(1);
    const kept = await page.evaluate(() => JSON.parse(localStorage.getItem('pagoda.chat.conversations') ?? '[]'));
    expect(kept.map((k: { title: string }) => k.title)).toEqual(['A cat']);

    // Switching mode with a message typed asks first; dismissing keeps both.
    await page.getByLabel(en['chat.input'], { exact: true }).fill('not sent yet');
    const asks: string[] = [];
    page.once('dialog', (d) => {
      asks.push(d.message());
      void d.dismiss();
    });
    await page.getByText(en['chat.modeCompletion']).click();
    await expect.poll(() => asks).toEqual([en['chat.switchMode']]);
    expect(await page.getByRole('radio', { name: en['chat.modeChat'] }).isChecked()).toBe(true);
    expect(await page.getByLabel(en['chat.input'], { exact: true }).inputValue()).toBe('not sent yet');
    page.once('dialog', (d) => void d.accept());
    await page.getByText(en['chat.modeCompletion']).click();
    await expect.poll(() => page.getByRole('radio', { name: en['chat.modeCompletion'] }).isChecked()).toBe(true);
    // The chat conversation was kept: it is still listed.
    await page.locator('.chat-list').getByText('A cat').waitFor();
    await screenshot(page, 'chat-conversations-en-1280');
    // A link that names another model ("Open in chat") opens a new conversation, the others kept.
    await page.goto(`${c.server.url}/chat?model=another`);
    await page.locator('.chat-list').getByText('A cat').waitFor({ timeout: 15_000 });
    expect(await page.getByText(en['chat.empty']).count()).toBe(1);
    expect(await page.getByTestId('answer').count()).toBe(0);
    await context.close();
  }, 90_000);

  it('renders markdown and highlighted code with a copy button, and never raw HTML or script links', async () => {
    const { context, page } = await newPage(1280, 'en');
    const code = 'def add(a, b):\n    return a + b';
    const markdown = [
      'Here is **bold** and `inline`.',
      '',
      '```python',
      code,
      '```',
      '',
      '| a | b |',
      '|---|---|',
      '| 1 | 2 |',
      '',
      '<img src="x" onerror="window.__xss = 1"> <script>window.__xss = 2</script>',
      '',
      '[click](javascript:window.__xss=3) and [docs](https://example.com/docs)',
    ].join('\n');
    // The answer is the server's stream format with a fixed text: the tiny model writes no markdown.
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'tiny', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    await page.route('**/v1/chat/completions', (route) =>
      route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: chunk({ role: 'assistant', content: markdown.slice(0, 40) }) + chunk({ content: markdown.slice(40) }) + chunk({}, 'stop') + 'data: [DONE]\n\n',
      }),
    );
    await openChat(page, 'en');
    await ask(page, en['chat.input'], 'show me');
    const answer = page.getByTestId('answer');
    expect(await answer.locator('strong').innerText()).toBe('bold');
    expect(await answer.locator('table td').allInnerTexts()).toEqual(['1', '2']);
    const block = answer.locator('.code-block');
    expect((await block.locator('pre code').innerText()).trimEnd()).toBe(code);
    expect(await block.locator('.hljs-keyword').first().innerText()).toBe('def');
    await block.getByRole('button', { name: en['chat.copyCode'] }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(code);
    // No raw HTML: no image, no script, no handler; the javascript: link lost its target.
    expect(await answer.locator('img, script').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    expect(await answer.innerText()).not.toContain('```');
    expect(await answer.innerText()).not.toContain('**');
    const hrefs = await answer.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
    expect(hrefs.some((h) => h.startsWith('javascript'))).toBe(false);
    const docs = answer.getByRole('link', { name: 'docs' });
    expect(await docs.getAttribute('target')).toBe('_blank');
    expect(await docs.getAttribute('rel')).toContain('noopener');
    // A normal end ("stop") is not announced.
    expect(await page.getByTestId('finish-reason').count()).toBe(0);
    await screenshot(page, 'chat-markdown-en-1280');

    // Stopped by the user: said so, rather than ending silently.
    await page.unroute('**/v1/chat/completions');
    await page.route('**/v1/chat/completions', () => {
      // never answered: the request waits until the page aborts it
    });
    await page.getByLabel(en['chat.input'], { exact: true }).fill('and then?');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: en['chat.stop'] }).click();
    await expect.poll(() => page.getByTestId('finish-reason').allInnerTexts()).toEqual([en['chat.finish.stopped']]);
    await context.close();
  });

  it('on a phone shows the conversation first with the settings folded, in both languages', async () => {
    for (const locale of ['en', 'zh-CN'] as const) {
      const cat = locale === 'en' ? en : zhCN;
      const { context, page } = await newPage(390, locale);
      await openChat(page, locale);
      const settings = page.locator('details.chat-settings');
      expect(await settings.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
      const input = await page.getByLabel(cat['chat.input'], { exact: true }).boundingBox();
      const fold = await settings.boundingBox();
      expect(input!.y).toBeLessThan(fold!.y);
      expect(input!.y + input!.height).toBeLessThan(860);
      expect(await horizontalOverflow(page), (await overflowingElements(page)).join(', ')).toBeLessThanOrEqual(0);
      await settings.locator('summary').click();
      await page.getByLabel(cat['chat.maxTokens']).waitFor();
      await screenshot(page, `chat-mobile-${locale}-390`);
      await context.close();
    }
  });

  it('in zh-CN words the chat’s server errors in Chinese at 390 and 1280 px, with no English server text', async () => {
    for (const width of [390, 1280]) {
      const { context, page } = await newPage(width, 'zh-CN');
      await openChat(page, 'zh-CN');
      if (width === 390) await page.locator('details.chat-settings summary').click();
      // More tokens than the context holds: the runner's 400 context_length_exceeded, with its numbers.
      await page.getByLabel(zhCN['chat.maxTokens']).fill('100000');
      const refused = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
      await page.getByLabel(zhCN['chat.input'], { exact: true }).fill('从前');
      await page.keyboard.press('Enter');
      const body = await (await refused).json();
      await page.locator('.note-error').waitFor();
      expect(body.error.code).toBe('context_length_exceeded');
      const note = page.locator('.note-error p').first();
      const text = await note.innerText();
      expect(text).toContain('256');
      expect(text).toContain('100,000');
      expect(text).toMatch(/[\u4e00-\u9fff]/);
      const visible = await page.evaluate(() => document.body.innerText);
      expect(visible).not.toContain(body.error.message);
      expect(visible).not.toMatch(/maximum context length/i);
      // Refused before any text: no empty answer left behind, and the message is back in the box.
      expect(await page.getByTestId('answer').count()).toBe(0);
      expect(await page.getByLabel(zhCN['chat.input'], { exact: true }).inputValue()).toBe('从前');

      // A value out of range: the zod issue, named by field, in Chinese.
      await page.getByLabel(zhCN['chat.maxTokens']).fill('8');
      await page.getByLabel(zhCN['chat.temperature']).fill('5');
      const refused2 = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
      await page.getByLabel(zhCN['chat.input'], { exact: true }).press('Enter');
      const body2 = await (await refused2).json();
      expect(body2.error.issues?.[0]).toMatchObject({ field: 'temperature', issue: 'too_big', maximum: 2 });
      // Named as the page labels the field.
      await expect.poll(() => note.innerText()).toBe(`请求有误：${zhCN['chat.temperature']}：不能大于 2。`);
      const visible2 = await page.evaluate(() => document.body.innerText);
      expect(visible2).not.toContain(body2.error.message);
      expect(await horizontalOverflow(page), (await overflowingElements(page)).join(', ')).toBeLessThanOrEqual(0);
      await screenshot(page, `chat-error-zh-CN-${width}`);
      await context.close();
    }
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
