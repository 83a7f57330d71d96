// The dashboard on a 390 px phone: navigation targets at least 44 px square, the language label on
// one line ("语言" unbroken), and tables shown as stacked rows whose every cell is on screen with its
// column's name, in English and in Simplified Chinese.
/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { openPage, startOps, type Locale, type Ops } from './ops-fixture.ts';

let ops: Ops;

beforeAll(async () => {
  ops = await startOps(2, 80 * 2 ** 30);
  await ops.readyModel('tiny');
}, 60_000);

afterAll(async () => {
  await ops?.close();
});

describe('at 390 px', () => {
  for (const locale of ['en', 'zh-CN'] as Locale[])
    it(`in ${locale}: 44 px navigation, an unbroken language label, stacked tables`, async () => {
      const t = locale === 'en' ? en : zhCN;
      const page = await ops.page(390, locale, 844);
      await openPage(page, ops.url, '/models', t['models.title']);
      const links = await page.locator('nav a').evaluateAll((as) =>
        as.map((a) => {
          const r = a.getBoundingClientRect();
          return { text: a.textContent, w: r.width, h: r.height };
        }),
      );
      expect(links).toHaveLength(8);
      expect(links.filter((l) => l.h < 44 || l.w < 44)).toEqual([]);

      const label = page.locator('.lang span');
      const lines = await label.evaluate((el) => {
        const h = el.getBoundingClientRect().height;
        return Math.round(h / parseFloat(getComputedStyle(el).lineHeight || '16') || h / 16);
      });
      expect(await label.innerText()).toBe(t['app.language']);
      expect(lines, `"${t['app.language']}" breaks over lines`).toBeLessThanOrEqual(1);
      expect((await page.locator('.lang select').boundingBox())!.height).toBeGreaterThanOrEqual(44);

      // The replicas table: rows as cards, every cell inside the screen and named.
      await page.locator('td[data-label]').first().waitFor({ timeout: 10_000 });
      const cells = await page.locator('table.table-stack td[data-label]').evaluateAll((tds) =>
        tds.map((td) => ({
          label: td.getAttribute('data-label'),
          before: getComputedStyle(td, '::before').content,
          right: td.getBoundingClientRect().right,
          width: document.documentElement.clientWidth,
        })),
      );
      expect(cells.length).toBeGreaterThanOrEqual(6);
      for (const c of cells) {
        expect(c.right).toBeLessThanOrEqual(c.width);
        expect(c.before).toBe(`"${c.label}"`);
      }
      expect(await page.locator('table.table-stack thead').first().evaluate((el) => el.getBoundingClientRect().height)).toBeLessThanOrEqual(1);
      await page.context().close();
    }, 20_000);
});
