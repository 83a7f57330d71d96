// Shared by the dashboard's browser tests: Debian's Chromium through playwright-core, a real server
// with one worker on the CPU engine, screenshots checked for content, and the build of the app.
/// <reference lib="dom" />
// playwright-core's types come from the dashboard package that depends on it (type-only: erased at run time).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from '../../apps/dashboard/node_modules/playwright-core/index.js';
import { ROOT } from '../../packages/server/test/platform-helpers.ts';

export const DASHBOARD = join(ROOT, 'apps/dashboard');
export const SHOTS = join(ROOT, 'test-results/dashboard');
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Builds apps/dashboard/dist when it is missing (scripts/setup normally has). */
export function ensureBuilt(): void {
  if (existsSync(join(DASHBOARD, 'dist/index.html'))) return;
  execFileSync(process.execPath, [join(DASHBOARD, 'node_modules/vite/bin/vite.js'), 'build'], {
    cwd: DASHBOARD,
    stdio: 'pipe',
  });
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/test does this)`);
  // playwright-core is a dependency of the dashboard package, so it resolves from there.
  const { chromium } = createRequire(join(DASHBOARD, 'package.json'))(
    'playwright-core',
  ) as typeof import('../../apps/dashboard/node_modules/playwright-core/index.js');
  // launch() gives every browser a fresh temporary profile (--user-data-dir) of its own.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/** Saves a full-page screenshot and returns how many distinct colours it has (decoded by the browser). */
export async function screenshot(page: Page, name: string): Promise<number> {
  mkdirSync(SHOTS, { recursive: true });
  const png = await page.screenshot({ fullPage: true });
  writeFileSync(join(SHOTS, `${name}.png`), png);
  const probe = await page.context().newPage();
  try {
    return await probe.evaluate(async (b64: string) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, img.width, img.height).data;
      const colours = new Set<number>();
      for (let i = 0; i < data.length; i += 4)
        colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
      return colours.size;
    }, png.toString('base64'));
  } finally {
    await probe.close();
  }
}

/** Visible text of the page, one entry per line, as a reader sees it. */
export async function visibleLines(page: Page): Promise<string[]> {
  const text = await page.evaluate(() => document.body.innerText);
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Form controls that have no accessible name (a <label>, aria-label or aria-labelledby). */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [
      ...document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(
        'input, select, textarea',
      ),
    ]
      .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
      .filter(
        (el) =>
          (el.labels?.length ?? 0) === 0 &&
          !el.getAttribute('aria-label') &&
          !el.getAttribute('aria-labelledby'),
      )
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

/** How far the page is wider than the window (0 when nothing overflows sideways). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
}

/** The deepest elements that reach past the right edge of the window, to say what overflows. */
export async function overflowingElements(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    return [...document.querySelectorAll<HTMLElement>('body *')]
      .filter(
        (el) =>
          el.getBoundingClientRect().right > w + 1 &&
          ![...el.children].some((c) => c.getBoundingClientRect().right > w + 1),
      )
      .slice(0, 5)
      .map(
        (el) =>
          `${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`,
      );
  });
}
