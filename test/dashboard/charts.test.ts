// The charts in Chromium: text drawn at a fixed pixel size (at least 11 px at 1280 and 390 px, not
// scaled with the SVG); lines told apart by colour, dash and marker, each in the legend; CPU RAM on a
// chart of its own; the cluster history kept across visits and reloads; benchmark runs named by the
// settings that differ between them, and the past-runs table fitting 1280 px.
/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { benchRun, chartTextSizes, openPage, seedBenchRuns, startOps, type Ops } from './ops-fixture.ts';

let ops: Ops;

beforeAll(async () => {
  ops = await startOps(2, 80 * 2 ** 30);
  await ops.readyModel('tiny');
  await seedBenchRuns(ops.cluster, [
    benchRun('00000000-0000-4000-8000-000000000001', '2026-12-03T09:00:00.000Z', { input_len: 32, max_concurrency: 4 }, 1),
    benchRun('00000000-0000-4000-8000-000000000002', '2026-12-03T09:05:00.000Z', { input_len: 128, max_concurrency: 4 }, 2),
    benchRun('00000000-0000-4000-8000-000000000003', '2026-12-03T09:10:00.000Z', { input_len: 32, max_concurrency: 16 }, 1.5),
  ]);
}, 60_000);

afterAll(async () => {
  await ops?.close();
});

const memoryChart = (page: Page) => page.locator('figure', { hasText: en['cluster.memoryChart'] });
/** Points of the first line of a chart. */
const points = (page: Page) =>
  memoryChart(page)
    .locator('polyline')
    .first()
    .evaluate((el) => (el as SVGPolylineElement).points.numberOfItems)
    .catch(() => 0);

describe('charts', () => {
  it('keep their text at a fixed size of at least 11 px, at 1280 and at 390 px', async () => {
    for (const width of [1280, 390]) {
      const page = await ops.page(width);
      for (const [path, heading, figure] of [
        ['/cluster', en['cluster.title'], en['cluster.memoryChart']],
        ['/bench', en['bench.title'], en['bench.chartTtft']],
      ] as const) {
        await openPage(page, ops.url, path, heading);
        await page.locator('figure', { hasText: figure }).locator('svg text').first().waitFor({ timeout: 10_000 });
        const sizes = await chartTextSizes(page);
        expect(sizes.length, `${path} at ${width}`).toBeGreaterThan(3);
        const px = sizes.map((s) => s.px);
        // 12 px as the stylesheet says, whatever the chart's width.
        expect(Math.min(...px), `${path} at ${width}: ${JSON.stringify(sizes.slice(0, 4))}`).toBeGreaterThanOrEqual(11);
        expect(Math.max(...px)).toBeLessThanOrEqual(13);
      }
      await page.context().close();
    }
  }, 40_000);

  it('tell lines apart by dash and marker, name each in the legend, and give CPU RAM its own chart', async () => {
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/cluster', en['cluster.title']);
    await memoryChart(page).locator('polyline').first().waitFor({ state: 'attached', timeout: 10_000 });
    // Two declared GPUs with the same numbers: their lines lie on each other and must both show.
    const lines = await memoryChart(page)
      .locator('svg g[data-series]')
      .evaluateAll((gs) =>
        gs.map((g) => ({
          name: g.getAttribute('data-series'),
          look: `${g.querySelector('polyline')!.getAttribute('stroke')} ${g.querySelector('polyline')!.getAttribute('stroke-dasharray') ?? 'solid'} ${g.lastElementChild!.tagName}`,
        })),
      );
    expect(lines.map((l) => l.name)).toEqual(['w1 · GPU 0', 'w1 · GPU 1']);
    expect(new Set(lines.map((l) => l.look)).size).toBe(2);
    expect(lines[1]!.look).toMatch(/\d/); // the second is dashed
    const legend = await memoryChart(page).locator('.legend li').allInnerTexts();
    expect(legend).toHaveLength(2);
    expect(legend[0]).toContain('w1 · GPU 0');
    expect(legend[1]).toContain('w1 · GPU 1');
    expect(legend.join(' ')).not.toContain(en['common.cpu']);
    // Host memory is charted on its own axis.
    const host = page.locator('figure', { hasText: en['cluster.hostMemoryChart'] });
    await host.waitFor();
    expect(await host.locator('.legend').innerText()).toContain(`w1 · ${en['common.cpu']}`);
    expect(await host.locator('svg text').allTextContents()).toContain('64 GiB');
    await page.context().close();
  }, 20_000);

  it('keep the cluster history across visits and reloads', async () => {
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/cluster', en['cluster.title']);
    await expect.poll(() => points(page), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    const before = await points(page);
    // Away and back through the navigation: the chart is there at once, with the earlier samples.
    await page.getByRole('link', { name: en['nav.launch'] }).click();
    await page.getByRole('heading', { level: 1, name: en['launch.title'] }).waitFor();
    await page.getByRole('link', { name: en['nav.cluster'] }).click();
    await memoryChart(page).locator('polyline').first().waitFor({ state: 'attached', timeout: 1_500 });
    expect(await points(page)).toBeGreaterThanOrEqual(before);
    await page.reload();
    await memoryChart(page).locator('polyline').first().waitFor({ state: 'attached', timeout: 1_500 });
    expect(await points(page)).toBeGreaterThanOrEqual(before);
    await page.context().close();
  }, 30_000);

  it('name benchmark runs by the settings that differ between them, and fit the past runs at 1280 px', async () => {
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/bench', en['bench.title']);
    const chart = page.locator('figure', { hasText: en['bench.chartTtft'] });
    await chart.locator('svg text.tick-label').first().waitFor({ timeout: 10_000 });
    const labels = await chart.locator('svg text.tick-label').allTextContents();
    expect(labels).toEqual([
      'prompt 32 · concurrency 4',
      'prompt 128 · concurrency 4',
      'prompt 32 · concurrency 16',
    ]);
    for (const l of labels) expect(l).not.toMatch(/\d{1,2}:\d{2}/);
    const table = page.locator('.table-wrap', { has: page.locator('table.runs-table') });
    const fit = await table.evaluate((el) => el.scrollWidth - el.clientWidth);
    expect(fit, 'the past-runs table scrolls sideways at 1280 px').toBeLessThanOrEqual(0);
    await page.context().close();
  }, 20_000);
});
