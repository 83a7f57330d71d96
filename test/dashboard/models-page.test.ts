// Running models in Chromium, with a worker played over Redis: the logs start with the server's
// history, formatted as time / level / message, then live lines join them; the GPUs column names
// indices; the endpoint and a curl / Python / JavaScript call are shown; a failed model has Retry
// (in Chinese here), which places its replica again.
/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';
import { waitFor } from '../../packages/server/test/platform-helpers.ts';
import { openPage, startOps, type Ops } from './ops-fixture.ts';

let ops: Ops;
let tinyReplica: string;
const T0 = Date.UTC(2026, 11, 3, 9, 30, 5);
const pino = (level: number, msg: string, i: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level, time: T0 + i * 1000, pid: 42, hostname: 'box', name: 'pagoda-runner', msg, ...extra });

beforeAll(async () => {
  ops = await startOps(2, 80 * 2 ** 30);
  tinyReplica = (await ops.readyModel('tiny'))[0]!;
  await ops.logs(tinyReplica, 'tiny', [
    pino(30, 'loading weights', 0),
    pino(40, 'max_num_seqs lowered to fit the KV cache', 1, { max_num_seqs: 8 }),
    pino(50, 'request failed', 2),
    'a line that is not JSON',
  ]);
  await waitFor('the history to be kept', async () => (await ops.cluster.call('GET', '/v1/models/tiny/logs')).json.replicas[0].lines.length === 4, 10_000, 50);
}, 60_000);

afterAll(async () => {
  await ops?.close();
});

describe('Running models', () => {
  it('starts the logs with the server’s history, as time, level and message, then adds live lines', async () => {
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/models', en['models.title']);
    const panel = page.locator('article', { has: page.getByRole('heading', { name: 'tiny' }) });
    await panel.locator('.logs summary').click();
    const lines = panel.locator('.log-lines li');
    await expect.poll(() => lines.count(), { timeout: 10_000 }).toBe(4);
    const rows = await lines.evaluateAll((els) =>
      els.map((li) => ({
        time: li.querySelector('.log-time')!.textContent,
        level: li.querySelector('.log-level')!.textContent,
        msg: li.querySelector('.log-msg')!.textContent,
        cls: li.className,
      })),
    );
    expect(rows.map((r) => r.level)).toEqual(['INFO', 'WARN', 'ERROR', '']);
    expect(rows[0]!.time).toMatch(/^\d{2}:\d{2}:\d{2}$/);
    expect(rows.map((r) => r.msg)).toEqual([
      'loading weights',
      'max_num_seqs lowered to fit the KV cache max_num_seqs=8',
      'request failed',
      'a line that is not JSON',
    ]);
    expect(rows[2]!.cls).toBe('log-error');
    expect(await panel.locator('.logs').innerText()).not.toContain('"level"');

    // Live lines follow the history, once each.
    await ops.logs(tinyReplica, 'tiny', [pino(30, 'ready to serve', 3)]);
    await expect.poll(() => lines.count(), { timeout: 10_000 }).toBe(5);
    expect(await lines.last().locator('.log-msg').innerText()).toBe('ready to serve');
    // Many more: the box keeps its end in view while the reader has not scrolled up.
    await ops.logs(tinyReplica, 'tiny', Array.from({ length: 40 }, (_, i) => pino(30, `step ${i}`, 4 + i)));
    await expect.poll(() => lines.count(), { timeout: 10_000 }).toBe(45);
    const box = panel.locator('.log-lines');
    await expect
      .poll(() => box.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight), { timeout: 5_000 })
      .toBeLessThan(2);
    expect(await box.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
    // A new visit starts with all of them.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: en['models.title'] }).waitFor();
    await panel.locator('.logs summary').click();
    await expect.poll(() => lines.count(), { timeout: 10_000 }).toBe(45);
    await page.context().close();
  }, 30_000);

  it('names the GPUs of each replica by index and shows how to call the model', async () => {
    const pair = await ops.cluster.call('POST', '/v1/models', {
      model_name: 'stories',
      model_uid: 'pair',
      model_engine: 'vllm',
      tensor_parallel_size: 2,
      gpu_memory_utilization: 0.3,
      max_model_len: 256,
    });
    expect(pair.status, JSON.stringify(pair.json)).toBe(200);
    const page = await ops.page(1280);
    await openPage(page, ops.url, '/models', en['models.title']);
    const gpus = (uid: string) =>
      page
        .locator('article', { has: page.getByRole('heading', { name: uid, exact: true }) })
        .locator(`td[data-label="${en['models.gpus']}"]`)
        .first();
    await expect.poll(() => gpus('pair').innerText(), { timeout: 10_000 }).toBe('GPU 0, 1');
    expect(await gpus('tiny').innerText()).toMatch(/^GPU \d$/);

    const tiny = page.locator('article', { has: page.getByRole('heading', { name: 'tiny', exact: true }) });
    const code = tiny.getByTestId('snippet');
    const curl = await code.innerText();
    expect(curl).toContain(`curl ${ops.url}/v1/chat/completions`);
    expect(curl).toContain('"model":"tiny"');
    expect(await tiny.locator('.call-endpoint').innerText()).toContain(`${ops.url}/v1`);
    await tiny.getByLabel('Python', { exact: true }).check();
    expect(await code.innerText()).toContain(`OpenAI(base_url="${ops.url}/v1"`);
    await tiny.getByLabel('JavaScript', { exact: true }).check();
    expect(await code.innerText()).toContain(`new OpenAI({ baseURL: '${ops.url}/v1'`);
    await page.context().close();
    expect((await ops.cluster.call('DELETE', '/v1/models/pair')).status).toBe(200);
  }, 30_000);

  it('offers Retry for a failed model (in Chinese here), which places its replica again', async () => {
    const launch = await ops.cluster.call('POST', '/v1/models', {
      model_name: 'stories',
      model_uid: 'broken',
      gpu_memory_utilization: 0.3,
      max_model_len: 256,
    });
    expect(launch.status).toBe(200);
    const [failed] = await ops.cluster.replicaIds('broken');
    await ops.cluster.report(failed!, 'broken', { status: 'failed', progress: 0, last_error: 'runner exited with code 1' });
    await waitFor('broken to fail', async () => (await ops.cluster.call('GET', '/v1/models/broken')).json.status === 'failed', 10_000, 50);

    const page = await ops.page(1280, 'zh-CN');
    await openPage(page, ops.url, '/models', zhCN['models.title']);
    const panel = page.locator('article', { has: page.getByRole('heading', { name: 'broken' }) });
    const retry = panel.getByRole('button', { name: zhCN['models.retry'] });
    await retry.click();
    const again = await waitFor('a new replica', async () => {
      const ids = await ops.cluster.replicaIds('broken');
      return ids.length === 1 && ids[0] !== failed ? ids[0] : null;
    }, 10_000, 50);
    expect((await ops.cluster.call('GET', '/v1/models/broken')).json.status).toBe('launching');
    await retry.waitFor({ state: 'detached', timeout: 10_000 });
    await ops.cluster.report(again!, 'broken', { status: 'ready', progress: 1, port: 1 });
    await panel.locator('.model-head .badge', { hasText: zhCN['status.ready'] }).waitFor({ timeout: 10_000 });
    await page.context().close();
  }, 30_000);
});
