// The launch form against a cluster of two declared 80 GiB GPUs (the setup): Launch is off
// with a translated reason when the plan says no; the memory bar draws a 131 GiB model past the GPU's
// size instead of squeezing it into "72 GiB of 80 GiB"; GPUs per replica on auto takes the tensor
// parallel size the plan suggests; a tiny model says why the KV cache takes the rest; on a phone the
// plan comes before Launch and the CLI box wraps between flags.
/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import type { Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { horizontalOverflow } from './browser-helpers.ts';
import { openPage, shotPath, startOps, type Ops } from './ops-fixture.ts';

let ops: Ops;

beforeAll(async () => {
  ops = await startOps(2, 80 * 2 ** 30);
}, 60_000);

afterAll(async () => {
  await ops?.close();
});

const field = (page: Page, label: string) => page.getByLabel(label, { exact: true });

describe('launching from the dashboard', () => {
  it('turns Launch off with the reason when the plan does not fit, and draws the overflow honestly', async () => {
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/launch?model=llama-3.1-instruct', en['launch.title']);
    await field(page, en['field.model_size_in_billions']).selectOption('70');
    await page.getByText(en['launch.planNoFit'], { exact: true }).waitFor({ timeout: 10_000 });
    const launch = page.getByRole('button', { name: en['launch.submit'], exact: true });
    expect(await launch.isDisabled()).toBe(true);
    const reason = page.locator('#launch-blocked');
    expect(await reason.innerText()).toBe(en['launch.blockedNoFit']);
    expect(await launch.getAttribute('aria-describedby')).toBe('launch-blocked');

    // 131 GiB of weights on an 80 GiB GPU: the caption says so, and the bar runs past a mark at 80 GiB.
    const bar = page.locator('.membar').first();
    const caption = await bar.locator('figcaption').innerText();
    expect(caption).not.toMatch(/72 GiB of 80 GiB/);
    expect(caption).toMatch(/needs 13\d GiB, the GPU has 80 GiB: 5\d(\.\d)? GiB over/);
    const geometry = await bar.evaluate((fig) => {
      const track = fig.querySelector<HTMLElement>('.membar-track')!.getBoundingClientRect();
      const at = (sel: string) => fig.querySelector<HTMLElement>(sel)!.getBoundingClientRect();
      return {
        track: track.width,
        cap: at('.membar-cap').left + 1 - track.left,
        weights: at('.mem-weights').width,
        over: at('.membar-over').width,
      };
    });
    // Weights are 131.4 of the ~135 GiB drawn; the GPU's 80 GiB ends about 59 % along.
    expect(geometry.cap / geometry.track).toBeGreaterThan(0.55);
    expect(geometry.cap / geometry.track).toBeLessThan(0.63);
    expect(geometry.weights / geometry.track).toBeGreaterThan(0.95);
    expect(geometry.over).toBeGreaterThan(0.35 * geometry.track);
    await page.locator('.launch-panel').screenshot({ path: shotPath('launch-nofit-en-1280') });

    // The same refusal reads in Chinese.
    const zh = await ops.page(1280, 'zh-CN');
    await openPage(zh, ops.url, '/launch?model=llama-3.1-instruct', zhCN['launch.title']);
    await field(zh, zhCN['field.model_size_in_billions']).selectOption('70');
    await zh.getByText(zhCN['launch.planNoFit'], { exact: true }).waitFor({ timeout: 10_000 });
    expect(await zh.locator('#launch-blocked').innerText()).toBe(zhCN['launch.blockedNoFit']);
    expect(await zh.getByRole('button', { name: zhCN['launch.submit'], exact: true }).isDisabled()).toBe(true);
    await zh.locator('.launch-panel').screenshot({ path: shotPath('launch-nofit-zh-CN-1280') });
    await zh.context().close();
    await page.context().close();
  }, 40_000);

  it('with GPUs per replica on auto, takes the tensor-parallel size the plan suggests', async () => {
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/launch?model=llama-3.1-instruct', en['launch.title']);
    await field(page, en['field.model_engine']).selectOption('vllm');
    await field(page, en['field.model_size_in_billions']).selectOption('70');
    await field(page, en['field.max_model_len']).fill('8192');
    // One GPU cannot hold it; spread over two it fits, and auto takes that.
    await page.getByText(en['launch.planFits'], { exact: true }).waitFor({ timeout: 10_000 });
    await page.getByText(en['launch.autoGpus'].replaceAll('{n}', '2')).waitFor();
    expect(await page.locator('.plan .membar').count()).toBe(2);
    await page.locator('.launch-panel').screenshot({ path: shotPath('launch-auto-tp-en-1280') });
    expect(await page.locator('pre.cli').innerText()).toContain('--tensor-parallel-size 2');
    expect(
      await page.getByRole('button', { name: en['launch.submit'], exact: true }).isDisabled(),
    ).toBe(false);

    // GPUs per replica given as 1: nothing is chosen for the user, and it does not fit.
    await field(page, en['field.n_gpu']).fill('1');
    await page.getByText(en['launch.planNoFit'], { exact: true }).waitFor({ timeout: 10_000 });
    expect(await page.locator('pre.cli').innerText()).not.toContain('--tensor-parallel-size');
    expect(
      await page.getByRole('button', { name: en['launch.submit'], exact: true }).isDisabled(),
    ).toBe(true);
    await page.context().close();
  }, 30_000);

  it('says why a tiny model’s KV cache takes the rest of the budget, and how to claim less', async () => {
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/launch?model=stories', en['launch.title']);
    const note = page.getByTestId('kv-takes-rest');
    await note.waitFor({ timeout: 10_000 });
    const text = await note.innerText();
    expect(text.toLowerCase()).toContain(en['field.gpu_memory_utilization'].toLowerCase());
    expect(text).toMatch(/\(now 0\.9\)/);
    // ...and offers the utilization that holds max_num_seqs full-length sequences, which Apply sets.
    const bar = page.locator('.plan .membar figcaption');
    expect(await bar.innerText()).toContain('72 GiB of 80 GiB');
    await note.getByRole('button', { name: en['common.apply'] }).click();
    const util = Number(await field(page, en['field.gpu_memory_utilization']).inputValue());
    expect(util).toBeGreaterThanOrEqual(0.05);
    expect(util).toBeLessThan(0.2);
    await expect.poll(() => bar.innerText(), { timeout: 10_000 }).not.toContain('72 GiB of 80 GiB');
    const gib = new Intl.NumberFormat('en', { maximumFractionDigits: 1 }).format(util * 80);
    expect(await bar.innerText()).toContain(`${gib} GiB of 80 GiB`);
    await page.getByText(en['launch.planFits'], { exact: true }).waitFor();
    await page.context().close();
  }, 20_000);

  it('on a phone shows the plan before Launch, and wraps the CLI between flags', async () => {
    const page = await ops.page(390, 'en', 844);
    await openPage(page, ops.url, '/launch?model=stories', en['launch.title']);
    await field(page, en['field.model_uid']).fill('a-rather-long-model-uid-for-wrapping');
    await field(page, en['field.max_model_len']).fill('256');
    await page.getByText(en['launch.planFits'], { exact: true }).waitFor({ timeout: 10_000 });
    const planTop = (await page.locator('.plan').boundingBox())!.y;
    const launchTop = (await page.getByRole('button', { name: en['launch.submit'], exact: true }).boundingBox())!.y;
    expect(planTop).toBeLessThan(launchTop);

    const parts = await page.locator('pre.cli .cli-part').evaluateAll((els) =>
      els.map((el) => ({ text: el.textContent, lines: el.getClientRects().length, top: Math.round(el.getBoundingClientRect().top) })),
    );
    expect(parts.length).toBeGreaterThan(4);
    // The command takes several lines, and no flag is split from its value.
    expect(new Set(parts.map((p) => p.top)).size).toBeGreaterThan(1);
    expect(parts.filter((p) => p.lines !== 1)).toEqual([]);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await page.screenshot({ path: shotPath('launch-plan-first-en-390'), fullPage: true });
    await page.context().close();
  }, 20_000);
});
