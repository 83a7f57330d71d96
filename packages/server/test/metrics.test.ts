// GET /metrics as Prometheus scrapes it: the platform's launches by outcome, replicas by state,
// requests routed, proxy latency and queue depth per worker, then each ready runner's engine metrics
// labelled by model and replica; the figures move as launches and requests go through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneWorkerCluster, TEMPLATE, type OneWorkerCluster } from './one_worker_cluster.ts';
import { STORIES, waitFor } from './platform_helpers.ts';

let cluster: OneWorkerCluster;

beforeAll(async () => {
  cluster = await startOneWorkerCluster('metrics', { workerLostMs: 120_000 });
  expect(
    (
      await cluster.api('POST', '/v1/model_registrations/LLM', {
        model_name: 'stories',
        model_path: STORIES,
        chat_template: TEMPLATE,
      })
    ).status,
  ).toBe(200);
});

afterAll(async () => {
  if (cluster?.worker.child.signalCode === 'SIGSTOP') cluster.worker.child.kill('SIGCONT');
  await cluster?.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${cluster.server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The samples of `name` whose labels include every one of `labels`, as [labels, value]. */
function samples(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): Array<[Record<string, string>, number]> {
  const out: Array<[Record<string, string>, number]> = [];
  for (const line of text.split('\n')) {
    const m = /^([^\s{]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) out.push([have, Number(m[3])]);
  }
  return out;
}

const value = (text: string, name: string, labels: Record<string, string> = {}) =>
  samples(text, name, labels).reduce((a, [, v]) => a + v, 0);

async function complete(model: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${cluster.server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'Once upon a time', max_tokens: 5, ignore_eos: true }),
    });
    expect(res.status).toBe(200);
    await res.text();
  }
}

async function readyReplica(uid: string): Promise<string> {
  return waitFor(
    `${uid} to be ready`,
    async () => {
      const r = await cluster.server.platform.db.prisma.replica.findFirst({
        where: { instance: { uid }, status: 'ready' },
      });
      return r && cluster.server.platform.table.endpoints(uid).length > 0 ? r.id : null;
    },
    60_000,
    100,
  );
}

describe('GET /metrics', () => {
  it('counts launches by outcome: accepted, refused for lack of room, invalid input', async () => {
    const before = await scrape();
    for (const outcome of ['accepted', 'refused', 'invalid'])
      expect(value(before, 'pagoda_launches_total', { outcome })).toBe(0);

    expect((await cluster.api('POST', '/v1/models', { model_name: 42 })).status).toBe(400);
    expect((await cluster.api('POST', '/v1/models', { model_name: 'no-such-model' })).status).toBe(
      404,
    );
    const refused = await cluster.api('POST', '/v1/models', {
      model_name: 'stories',
      model_uid: 'huge',
      gpu_memory_utilization: 0.6,
      replica: 2,
    });
    expect(refused.status, JSON.stringify(refused.json)).toBe(409);
    expect(
      (
        await cluster.api('POST', '/v1/models', {
          model_name: 'stories',
          model_uid: 'tiny',
          gpu_memory_utilization: 0.3,
          max_model_len: 256,
        })
      ).status,
    ).toBe(200);

    const after = await scrape();
    expect(value(after, 'pagoda_launches_total', { outcome: 'accepted' })).toBe(1);
    expect(value(after, 'pagoda_launches_total', { outcome: 'refused' })).toBe(1);
    expect(value(after, 'pagoda_launches_total', { outcome: 'invalid' })).toBe(2);
  });

  it('counts requests routed and their latency, and shows the runner engine figures labelled by model and replica', async () => {
    const replica = await readyReplica('tiny');
    const before = await scrape();
    expect(value(before, 'pagoda_replicas', { state: 'ready' })).toBe(1);
    expect(samples(before, 'pagoda_requests_routed_total', { model: 'tiny' })).toEqual([]);
    expect(value(before, 'pagoda_proxy_latency_seconds_count')).toBe(0);
    // The runner's counters are there from the start, at zero, with the platform's labels added.
    expect(samples(before, 'vllm:generation_tokens_total', { model: 'tiny', replica })).toEqual([
      [{ model_name: 'tiny', model: 'tiny', replica }, 0],
    ]);

    await complete('tiny', 3);
    const after = await scrape();
    expect(value(after, 'pagoda_requests_routed_total', { model: 'tiny', status: '200' })).toBe(3);
    expect(value(after, 'pagoda_proxy_latency_seconds_count')).toBe(3);
    expect(value(after, 'pagoda_proxy_latency_seconds_sum')).toBeGreaterThan(0);
    expect(value(after, 'pagoda_proxy_latency_seconds_bucket', { le: '+Inf' })).toBe(3);
    expect(value(after, 'vllm:request_success_total', { model: 'tiny', replica })).toBe(3);
    expect(value(after, 'vllm:generation_tokens_total', { model: 'tiny', replica })).toBe(15);
    expect(value(after, 'vllm:prompt_tokens_total', { model: 'tiny', replica })).toBeGreaterThan(0);
    expect(value(after, 'vllm:e2e_request_latency_seconds_count', { model: 'tiny', replica })).toBe(
      3,
    );

    // A request the proxy refuses for a model that is not launched is not routed anywhere.
    const missing = await fetch(`${cluster.server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nope', prompt: 'x' }),
    });
    expect(missing.status).toBe(404);
    expect(samples(await scrape(), 'pagoda_requests_routed_total', { model: 'nope' })).toEqual([]);
  });

  it('shows jobs waiting in a worker queue and replicas by state while the worker is stalled', async () => {
    const w = cluster.worker.child;
    expect(value(await scrape(), 'pagoda_queue_depth', { worker: 'w1' })).toBe(0);
    w.kill('SIGSTOP');
    try {
      const res = await cluster.api('POST', '/v1/models', {
        model_name: 'stories',
        model_uid: 'tiny2',
        gpu_memory_utilization: 0.3,
        max_model_len: 256,
        worker_ip: 'w1',
      });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      const stalled = await scrape();
      expect(value(stalled, 'pagoda_queue_depth', { worker: 'w1' })).toBe(1);
      expect(value(stalled, 'pagoda_replicas', { state: 'scheduled' })).toBe(1);
      expect(value(stalled, 'pagoda_replicas', { state: 'ready' })).toBe(1);
    } finally {
      w.kill('SIGCONT');
    }
    const replica2 = await readyReplica('tiny2');
    const text = await waitFor(
      'the queue to drain',
      async () => {
        const t = await scrape();
        return value(t, 'pagoda_queue_depth', { worker: 'w1' }) === 0 &&
          value(t, 'pagoda_replicas', { state: 'ready' }) === 2
          ? t
          : null;
      },
      20_000,
      200,
    );
    expect(
      samples(text, 'vllm:generation_tokens_total', { model: 'tiny2', replica: replica2 }),
    ).toHaveLength(1);
  });

  it('keeps the samples of one metric from several runners under one HELP and TYPE', async () => {
    await complete('tiny2', 1);
    const text = await scrape();
    const lines = text.split('\n').filter(Boolean);
    const types = lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!);
    expect(new Set(types).size).toBe(types.length);
    // Every sample follows its own family's TYPE line, with no other family's TYPE in between.
    let family = '';
    for (const l of lines) {
      if (l.startsWith('# TYPE ')) family = l.split(' ')[2]!;
      else if (!l.startsWith('#'))
        expect(l.startsWith(family), `${l} is outside its family (last TYPE: ${family})`).toBe(
          true,
        );
    }
    const ok = samples(text, 'vllm:request_success_total');
    expect(new Set(ok.map(([l]) => l.model))).toEqual(new Set(['tiny', 'tiny2']));
    expect(value(text, 'vllm:request_success_total', { model: 'tiny2' })).toBe(1);
  });
});
