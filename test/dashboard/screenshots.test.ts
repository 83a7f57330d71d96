// Every page at 1280 and 390 px, in English and in Simplified Chinese, written as a screenshot under
// test-results/dashboard/ (git-ignored) for a person to look at; on each, nothing overflows sideways
// and chart text is at least 11 px. The cluster has a ready model with logs, a failed one, finished
// benchmark runs and two declared GPUs, so the pages show what they are for.
/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { waitFor } from '../../packages/server/test/platform-helpers.ts';
import { horizontalOverflow, overflowingElements } from './browser-helpers.ts';
import { benchRun, chartTextSizes, seedBenchRuns, shotPath, startOps, type Locale, type Ops } from './ops-fixture.ts';

const PAGES = [
  { name: 'launch', path: '/launch?model=stories', title: 'launch.title' },
  { name: 'models', path: '/models', title: 'models.title' },
  { name: 'chat', path: '/chat', title: 'chat.title' },
  { name: 'retrieval', path: '/retrieval', title: 'retrieval.title' },
  { name: 'custom', path: '/custom', title: 'custom.title' },
  { name: 'cluster', path: '/cluster', title: 'cluster.title' },
  { name: 'bench', path: '/bench', title: 'bench.title' },
  { name: 'keys', path: '/keys', title: 'keys.title' },
] as const;
const CATALOG = { en, 'zh-CN': zhCN } as const;

let ops: Ops;

beforeAll(async () => {
  ops = await startOps(2, 80 * 2 ** 30);
  const [replica] = await ops.readyModel('tiny');
  const t0 = Date.UTC(2026, 11, 3, 9, 0, 0);
  await ops.logs(replica!, 'tiny', [
    JSON.stringify({ level: 30, time: t0, msg: 'loaded stories260k in 0.4 s' }),
    JSON.stringify({ level: 30, time: t0 + 900, msg: 'KV cache: 4096 blocks of 16 tokens' }),
    JSON.stringify({ level: 40, time: t0 + 1800, msg: 'max_num_seqs lowered to 64 to fit the KV cache' }),
    JSON.stringify({ level: 30, time: t0 + 2700, msg: 'listening on 127.0.0.1:41234' }),
  ]);
  const broken = await ops.cluster.call('POST', '/v1/models', { model_name: 'stories', model_uid: 'broken', gpu_memory_utilization: 0.2, max_model_len: 256 });
  expect(broken.status).toBe(200);
  const [failed] = await ops.cluster.replicaIds('broken');
  await ops.cluster.report(failed!, 'broken', { status: 'failed', progress: 0, last_error: 'runner exited with code 1: the weights are not a safetensors file' });
  await waitFor('broken to fail', async () => (await ops.cluster.call('GET', '/v1/models/broken')).json.status === 'failed', 10_000, 50);
  await seedBenchRuns(ops.cluster, [
    benchRun('00000000-0000-4000-8000-000000000011', '2026-12-03T09:00:00.000Z', { input_len: 32, max_concurrency: 4 }, 1),
    benchRun('00000000-0000-4000-8000-000000000012', '2026-12-03T09:05:00.000Z', { input_len: 128, max_concurrency: 4 }, 2.2),
    benchRun('00000000-0000-4000-8000-000000000013', '2026-12-03T09:10:00.000Z', { input_len: 32, max_concurrency: 16 }, 1.4),
  ]);
}, 60_000);

afterAll(async () => {
  await ops?.close();
});

describe('every page, both widths, both languages', () => {
  for (const locale of ['en', 'zh-CN'] as Locale[])
    it(`in ${locale}: screenshots at 1280 and 390 px, no sideways overflow, chart text >= 11 px`, async () => {
      const t = CATALOG[locale];
      const page = await ops.page(1280, locale);
      // Cluster samples from earlier visits (the page keeps them in this browser): the charts have a history to draw.
      await page.goto(`${ops.url}/cluster`);
      await page.locator('figure', { hasText: t['cluster.memoryChart'] }).locator('polyline').first().waitFor({ state: 'attached', timeout: 10_000 });
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: width > 500 ? 900 : 844 });
        for (const p of PAGES) {
          await page.goto(`${ops.url}${p.path}`);
          await page.getByRole('heading', { level: 1, name: t[p.title] }).waitFor({ timeout: 15_000 });
          if (p.name === 'launch') await page.locator('.membar-track').first().waitFor({ timeout: 10_000 });
          if (p.name === 'models') await page.locator('.logs summary').first().click();
          if (p.name === 'cluster' || p.name === 'bench') await page.locator('.chart svg text').first().waitFor({ timeout: 10_000 });
          await page.waitForLoadState('networkidle');
          await page.screenshot({ path: shotPath(`page-${p.name}-${locale}-${width}`), fullPage: true });
          const where = `${p.name} in ${locale} at ${width} px`;
          expect(await horizontalOverflow(page), `${where} overflows: ${(await overflowingElements(page)).join(', ')}`).toBeLessThanOrEqual(0);
          const small = (await chartTextSizes(page)).filter((s) => s.px < 11);
          expect(small, `${where}: chart text under 11 px`).toEqual([]);
        }
      }
      await page.context().close();
    }, 90_000);
});
