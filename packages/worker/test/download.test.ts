// Model download against a local stand-in for the hub serving ../shared/models: files land in the
// cache and match, progress is reported per file, an interrupted transfer resumes from its partial
// file, a corrupted file fails its checksum, HF_ENDPOINT and HF_TOKEN are honoured.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ChecksumError,
  downloadModel,
  modelCacheDir,
  resolveHubSettings,
  type DownloadProgress,
} from '../src/download/index.ts';
import { startFakeHub, type FakeHub } from './hub-server.ts';

const MODELS = resolve(import.meta.dirname, '../../../../shared/models');
const REPO = 'pagoda-test/tiny-qwen3';
const WEIGHTS = join(MODELS, 'tiny-qwen3', 'model.safetensors');
const WEIGHTS_SIZE = statSync(WEIGHTS).size;
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

let hub: FakeHub;
let cacheDir: string;

beforeAll(async () => {
  hub = await startFakeHub(MODELS);
});
afterAll(() => hub.close());
beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'pagoda-download-'));
  hub.faults.cutAfter = new Map();
  hub.faults.corrupt = new Set();
  hub.faults.token = undefined;
  hub.ranges.clear();
});
afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

describe('downloadModel', () => {
  it('fetches a checkpoint into the cache through HF_ENDPOINT, reporting progress per file', async () => {
    const events: DownloadProgress[] = [];
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.url;
    let result;
    try {
      result = await downloadModel({
        repo: REPO,
        cacheDir,
        onProgress: (p) => events.push(p),
        progressIntervalMs: 0,
      });
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
    expect(result.dir).toBe(modelCacheDir(cacheDir, REPO));
    expect(result.files.map((f) => f.path).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(result.files.find((f) => f.path === 'model.safetensors')).toMatchObject({
      checksum: 'sha256',
      cached: false,
      size: WEIGHTS_SIZE,
    });
    expect(result.files.find((f) => f.path === 'config.json')!.checksum).toBe('git-sha1');
    for (const f of result.files)
      expect(
        readFileSync(join(result.dir, f.path)).equals(
          readFileSync(join(MODELS, 'tiny-qwen3', f.path)),
        ),
      ).toBe(true);
    expect(existsSync(join(result.dir, 'model.safetensors.partial'))).toBe(false);

    const weights = events.filter((e) => e.file === 'model.safetensors');
    expect(weights.at(-1)).toMatchObject({
      phase: 'done',
      fileBytes: WEIGHTS_SIZE,
      fileTotal: WEIGHTS_SIZE,
    });
    expect(weights.some((e) => e.phase === 'downloading' && e.fileBytes < WEIGHTS_SIZE)).toBe(true);
    const fileBytes = weights.map((e) => e.fileBytes);
    expect(fileBytes).toEqual([...fileBytes].sort((a, b) => a - b));
    expect(events.at(-1)!.bytes).toBe(events.at(-1)!.total);
  });

  it('finds complete files in the cache and fetches nothing again', async () => {
    await downloadModel({ repo: REPO, cacheDir, endpoint: hub.url });
    hub.ranges.clear();
    const events: DownloadProgress[] = [];
    const again = await downloadModel({
      repo: REPO,
      cacheDir,
      endpoint: hub.url,
      onProgress: (p) => events.push(p),
    });
    expect(again.files.every((f) => f.cached)).toBe(true);
    expect(hub.ranges.size).toBe(0);
    expect(events.every((e) => e.phase === 'cached')).toBe(true);
  });

  it('keeps the partial file of an interrupted download and resumes from it on the next call', async () => {
    const half = Math.floor(WEIGHTS_SIZE / 2);
    hub.faults.cutAfter!.set('model.safetensors', { bytes: half, times: 1 });
    await expect(
      downloadModel({ repo: REPO, cacheDir, endpoint: hub.url, retries: 0 }),
    ).rejects.toThrow(
      /model.safetensors failed after 1 attempt: .*\d+ of 5579424 bytes kept in .*model.safetensors.partial; the next download resumes from there/,
    );
    const partial = join(modelCacheDir(cacheDir, REPO), 'model.safetensors.partial');
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(half);

    const result = await downloadModel({ repo: REPO, cacheDir, endpoint: hub.url, retries: 0 });
    expect(hub.ranges.get('model.safetensors')!.at(-1)).toBe(`bytes=${kept}-${WEIGHTS_SIZE - 1}`);
    expect(sha256(join(result.dir, 'model.safetensors'))).toBe(sha256(WEIGHTS));
    expect(existsSync(partial)).toBe(false);
  });

  it('resumes within one call when the connection breaks more than once', async () => {
    hub.faults.cutAfter!.set('model.safetensors', {
      bytes: Math.floor(WEIGHTS_SIZE / 3),
      times: 2,
    });
    const result = await downloadModel({ repo: REPO, cacheDir, endpoint: hub.url, retries: 3 });
    expect(sha256(join(result.dir, 'model.safetensors'))).toBe(sha256(WEIGHTS));
    const resumed = hub.ranges.get('model.safetensors')!.filter((r) => /^bytes=[1-9]\d*-/.test(r));
    expect(resumed.length).toBeGreaterThanOrEqual(1);
  });

  it('fetches a file once when two launches download the same model at once', async () => {
    const [a, b] = await Promise.all([
      downloadModel({ repo: REPO, cacheDir, endpoint: hub.url }),
      downloadModel({ repo: REPO, cacheDir, endpoint: hub.url }),
    ]);
    expect(a.dir).toBe(b.dir);
    expect(sha256(join(a.dir, 'model.safetensors'))).toBe(sha256(WEIGHTS));
    // One transfer: the size probe and the download itself; the other call found the file complete.
    const transfers = hub.ranges.get('model.safetensors')!.filter((r) => r !== 'bytes=0-0');
    expect(transfers).toHaveLength(1);
    expect(
      [a, b]
        .flatMap((r) => r.files.filter((f) => f.path === 'model.safetensors').map((f) => f.cached))
        .sort(),
    ).toEqual([false, true]);
  });

  it('fails a corrupted file on its checksum and leaves nothing of it behind', async () => {
    hub.faults.corrupt!.add('model.safetensors');
    const err = await downloadModel({ repo: REPO, cacheDir, endpoint: hub.url }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as ChecksumError).kind).toBe('sha256');
    expect((err as Error).message).toMatch(
      /model.safetensors: sha256 [0-9a-f]{64} does not match the hub's [0-9a-f]{64}; the download was corrupted/,
    );
    const dir = modelCacheDir(cacheDir, REPO);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(dir, 'model.safetensors.partial'))).toBe(false);

    hub.faults.corrupt = new Set(['config.json']);
    rmSync(dir, { recursive: true, force: true });
    await expect(downloadModel({ repo: REPO, cacheDir, endpoint: hub.url })).rejects.toThrow(
      /config.json: git-sha1 .* does not match/,
    );
  });

  it('sends HF_TOKEN and explains a refusal without it', async () => {
    hub.faults.token = 'hf_test_token';
    await expect(downloadModel({ repo: REPO, cacheDir, endpoint: hub.url })).rejects.toThrow(
      /gated or private; set HF_TOKEN/,
    );
    const saved = process.env.HF_TOKEN;
    process.env.HF_TOKEN = 'hf_test_token';
    try {
      const result = await downloadModel({ repo: REPO, cacheDir, endpoint: hub.url });
      expect(result.files.length).toBe(5);
    } finally {
      if (saved === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = saved;
    }
    expect(() => resolveHubSettings({ token: 'abc' })).toThrow(/starts with 'hf_'/);
  });

  it('names a missing repository and a missing GGUF file', async () => {
    await expect(
      downloadModel({ repo: 'pagoda-test/no-such-model', cacheDir, endpoint: hub.url }),
    ).rejects.toThrow(
      /cannot list pagoda-test\/no-such-model@main .*: no such repository or revision/,
    );
    await expect(
      downloadModel({
        repo: REPO,
        cacheDir,
        endpoint: hub.url,
        selection: { format: 'gguf', file: 'tiny-Q4_K_M.gguf' },
      }),
    ).rejects.toThrow(/has no file 'tiny-Q4_K_M.gguf'; its GGUF files: none/);
    const gguf = await downloadModel({
      repo: REPO,
      cacheDir,
      endpoint: hub.url,
      selection: { format: 'gguf', file: 'config.json' },
    });
    expect(gguf.files.map((f) => f.path)).toEqual(['config.json']);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('launch cancelled'));
    await expect(
      downloadModel({ repo: REPO, cacheDir, endpoint: hub.url, signal: controller.signal }),
    ).rejects.toThrow(/launch cancelled|abort/i);
  });
});
