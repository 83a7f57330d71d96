// What the launch, running-models, charts, mobile and screenshot tests share: a server with one
// worker played over Redis (declared GPUs, reports sent by the test, no runner process), Chromium,
// pages opened at a width and in a language, and measures of what a reader sees (chart text size,
// overflow).
/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import type { BenchRun } from '../../packages/protocol/src/index.ts';
import {
  startDeclaredCluster,
  type DeclaredCluster,
} from '../../packages/server/test/declared-cluster.ts';
import { waitFor } from '../../packages/server/test/platform-helpers.ts';
import { ensureBuilt, launchChromium, SHOTS } from './browser-helpers.ts';

export type Locale = 'en' | 'zh-CN';

export interface Ops {
  cluster: DeclaredCluster;
  browser: Browser;
  url: string;
  /** A fresh page (own context and storage) at this width, in this language. */
  page(width: number, locale?: Locale, height?: number): Promise<Page>;
  /** Publishes runner log lines as worker w1 would. */
  logs(replicaId: string, uid: string, lines: string[]): Promise<void>;
  /** Launches stories260k as `uid` and reports its replicas ready. */
  readyModel(uid: string, replicas?: number): Promise<string[]>;
  close(): Promise<void>;
}

export async function startOps(gpus = 2, gpuBytes = 80 * 2 ** 30): Promise<Ops> {
  ensureBuilt();
  const cluster = await startDeclaredCluster('sqlite', gpus, gpuBytes);
  const browser = await launchChromium();
  const url = cluster.server.url;
  return {
    cluster,
    browser,
    url,
    async page(width, locale = 'en', height = 900) {
      const context = await browser.newContext({
        viewport: { width, height },
        locale: locale === 'en' ? 'en-US' : 'zh-CN',
      });
      await context.addInitScript((l: string) => {
        if (!localStorage.getItem('pagoda.locale')) localStorage.setItem('pagoda.locale', l);
      }, locale);
      const page = await context.newPage();
      page.on('dialog', (d) => void d.accept());
      return page;
    },
    logs: (replicaId, uid, lines) => cluster.logs(replicaId, uid, lines),
    async readyModel(uid, replicas = 1) {
      const r = await cluster.call('POST', '/v1/models', {
        model_name: 'stories',
        model_uid: uid,
        replica: replicas,
        gpu_memory_utilization: 0.3,
        max_model_len: 256,
      });
      if (r.status !== 200) throw new Error(`launching ${uid}: ${JSON.stringify(r.json)}`);
      const ids = await cluster.replicaIds(uid);
      for (const id of ids)
        await cluster.report(id, uid, { status: 'ready', progress: 1, port: 1, pid: 1 });
      await waitFor(
        `${uid} to be ready`,
        async () => (await cluster.call('GET', `/v1/models/${uid}`)).json.status === 'ready',
        10_000,
        50,
      );
      return ids;
    },
    async close() {
      await browser.close();
      await cluster.close();
    },
  };
}

/** Opens `path` and waits for its h1. */
export async function openPage(page: Page, url: string, path: string, heading: string): Promise<void> {
  await page.goto(`${url}${path}`);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: 15_000 });
}

/** Rendered size in CSS pixels of every visible SVG text in a chart (font size × the SVG's scale). */
export async function chartTextSizes(page: Page): Promise<Array<{ text: string; px: number }>> {
  return page.evaluate(() =>
    [...document.querySelectorAll<SVGTextElement>('.chart svg text')]
      .filter((el) => el.getBBox().width > 0)
      .map((el) => {
        const m = el.getScreenCTM()!;
        const px = parseFloat(getComputedStyle(el).fontSize) * Math.hypot(m.a, m.b);
        return { text: el.textContent ?? '', px: Math.round(px * 10) / 10 };
      }),
  );
}

/** Benchmark runs stored as the server stores them (finished, with summaries), for charts and tables. */
export async function seedBenchRuns(cluster: DeclaredCluster, runs: BenchRun[]): Promise<void> {
  for (const run of runs)
    await cluster.server.platform.db.prisma.event.create({
      data: { kind: 'benchmark', subject: run.id, message: `benchmark ${run.status}`, data: run as never },
    });
}

export function benchRun(
  id: string,
  startedAt: string,
  params: Partial<BenchRun['params']>,
  scale: number,
): BenchRun {
  const dist = (mean: number) => ({ mean, median: mean, std: mean / 10, p99: mean * 1.6 });
  return {
    id,
    model_uid: 'tiny',
    params: {
      model_uid: 'tiny',
      num_prompts: 20,
      input_len: 32,
      output_len: 16,
      request_rate: null,
      max_concurrency: 4,
      seed: 0,
      ...params,
    },
    status: 'done',
    done: params.num_prompts ?? 20,
    total: params.num_prompts ?? 20,
    started_at: startedAt,
    finished_at: startedAt,
    summary: {
      duration_s: 2 * scale,
      completed: params.num_prompts ?? 20,
      failed: 0,
      total_input_tokens: 640,
      total_output_tokens: 320,
      request_throughput: 10 / scale,
      output_throughput: 160 / scale,
      total_token_throughput: 480 / scale,
      ttft_ms: dist(12 * scale),
      tpot_ms: dist(3 * scale),
      itl_ms: dist(3 * scale),
      e2el_ms: dist(60 * scale),
    },
    error: null,
  };
}

export function shotPath(name: string): string {
  mkdirSync(SHOTS, { recursive: true });
  return join(SHOTS, `${name}.png`);
}
