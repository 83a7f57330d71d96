// A launch of a model given as a Hugging Face repo id, end to end: the server validates the
// registration against the hub (HF_ENDPOINT), the worker downloads it into its cache with progress
// that reaches /api/events as download %, then the runner starts and serves it. A download that
// fails its checksum marks the replica failed with the reason, and no runner starts.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub, type FakeHub } from '../../worker/test/hub-server.ts';
import {
  startOneWorkerCluster,
  TEMPLATE,
  type Body,
  type OneWorkerCluster,
} from './one_worker_cluster.ts';
import { STORIES, waitFor } from './platform_helpers.ts';

const MODELS = resolve(STORIES, '..');
let hub: FakeHub;
let cluster: OneWorkerCluster;
let cache: string;
let ws: WebSocket;
const messages: Body[] = [];
const saved = {
  HF_ENDPOINT: process.env.HF_ENDPOINT,
  HF_TOKEN: process.env.HF_TOKEN,
  PAGODA_MODEL_CACHE: process.env.PAGODA_MODEL_CACHE,
};

beforeAll(async () => {
  hub = await startFakeHub(MODELS);
  cache = mkdtempSync(join(tmpdir(), 'pagoda-dl-cache-'));
  // The server (registration checks) and the worker process (downloads) both read these.
  process.env.HF_ENDPOINT = hub.url;
  process.env.PAGODA_MODEL_CACHE = cache;
  delete process.env.HF_TOKEN;
  cluster = await startOneWorkerCluster('dl');
  ws = new WebSocket(`${cluster.server.url.replace('http', 'ws')}/api/events`);
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
});

afterAll(async () => {
  ws?.close();
  await cluster?.close();
  await hub?.close();
  rmSync(cache, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const events = (uid: string, type: string) =>
  messages.filter((m) => m.model_uid === uid && m.type === type);

async function registerAndLaunch(repo: string, name: string, uid: string): Promise<string> {
  const reg = await cluster.api('POST', '/v1/model_registrations/LLM', {
    model_name: name,
    hf_repo_id: repo,
    chat_template: TEMPLATE,
  });
  expect(reg.status, JSON.stringify(reg.json)).toBe(200);
  const launch = await cluster.api('POST', '/v1/models', {
    model_name: name,
    model_uid: uid,
    gpu_memory_utilization: 0.3,
    max_model_len: 256,
  });
  expect(launch.status, JSON.stringify(launch.json)).toBe(200);
  const row = await cluster.server.platform.db.prisma.replica.findFirstOrThrow({
    where: { instance: { uid } },
  });
  return row.id;
}

describe('launching a hub model', () => {
  it('downloads it with download % progress, then serves it once ready', async () => {
    const replicaId = await registerAndLaunch('pagoda-test/stories260k', 'stories-hub', 'hub');
    await waitFor(
      'the replica to be ready',
      async () =>
        events('hub', 'status').some((m) => m.replica_id === replicaId && m.status === 'ready'),
      60_000,
      50,
    );

    const statuses = events('hub', 'status')
      .filter((m) => m.replica_id === replicaId)
      .map((m) => m.status);
    expect(statuses.indexOf('downloading')).toBeGreaterThanOrEqual(0);
    expect(statuses.indexOf('downloading')).toBeLessThan(statuses.indexOf('loading'));
    expect(statuses.indexOf('loading')).toBeLessThan(statuses.indexOf('ready'));

    const progress = events('hub', 'progress').filter((m) => m.replica_id === replicaId);
    const download = progress.filter((m) => /^download \d+%$/.test(m.phase));
    expect(download.length).toBeGreaterThanOrEqual(2);
    for (const m of download) expect(m.progress).toBeLessThanOrEqual(0.5);
    expect(download.at(-1)).toMatchObject({ phase: 'download 100%', progress: 0.5 });
    const percents = download.map((m) => Number(/(\d+)%/.exec(m.phase)![1]));
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(percents[0]).toBeLessThan(100);
    // Download first, then the start: every later message is past the download's half.
    const after = progress.slice(progress.indexOf(download.at(-1)) + 1);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((m) => m.progress > 0.5 && !m.phase.startsWith('download'))).toBe(true);
    expect(progress.at(-1)).toMatchObject({ progress: 1, phase: 'ready' });

    // The files came through the hub into the worker's cache, byte for byte.
    const weights = hub.ranges.get('model.safetensors');
    expect(weights?.length).toBeGreaterThan(0);
    const found = readdirSync(cache, { recursive: true })
      .map(String)
      .find((p) => p.endsWith('model.safetensors'));
    expect(found, `nothing downloaded into ${cache}`).toMatch(/stories260k/);
    expect(
      readFileSync(join(cache, found!)).equals(readFileSync(join(STORIES, 'model.safetensors'))),
    ).toBe(true);

    const res = await fetch(`${cluster.server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hub', prompt: 'Once upon a time', max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Body).choices[0].text.length).toBeGreaterThan(0);
  });

  it('marks the replica failed with the reason when the download is corrupted, and starts no runner', async () => {
    hub.faults.corrupt = new Set(['model.safetensors']);
    const replicaId = await registerAndLaunch('pagoda-bad/stories260k', 'stories-bad', 'bad');
    const failed = await waitFor(
      'a failed status',
      async () =>
        events('bad', 'status').find((m) => m.replica_id === replicaId && m.status === 'failed'),
      30_000,
      50,
    );
    expect(failed.last_error).toMatch(
      /model\.safetensors: sha256 [0-9a-f]{64} does not match the hub's [0-9a-f]{64}; the download was corrupted/,
    );
    expect(
      events('bad', 'status')
        .filter((m) => m.replica_id === replicaId)
        .map((m) => m.status),
    ).not.toContain('loading');

    const view = await waitFor(
      'the model to be failed',
      async () => {
        const { json } = await cluster.api('GET', '/v1/models/bad/progress');
        return json.status === 'failed' ? json : null;
      },
      10_000,
      100,
    );
    expect(view.replicas).toEqual([
      {
        replica_id: replicaId,
        status: 'failed',
        progress: expect.any(Number),
        last_error: failed.last_error,
      },
    ]);
    const row = await cluster.server.platform.db.prisma.replica.findUniqueOrThrow({
      where: { id: replicaId },
    });
    expect(row.pid).toBeNull();
    expect(row.port).toBeNull();
    // The failure is in the event log too, and the model is not routed.
    expect(
      await cluster.server.platform.db.prisma.event.count({
        where: { kind: 'replica_failed', subject: 'bad' },
      }),
    ).toBe(1);
    const res = await fetch(`${cluster.server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'bad', prompt: 'x' }),
    });
    expect(res.status).toBe(503);
  });
});
