// What the platform says about launches must be true, on SQLite and PostgreSQL: a replica its worker
// gave up on frees its GPU memory claim; a model scaled to 0 reads 'stopped' and requests to it get
// an error that says so. The worker is played over Redis (declared_cluster.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { cudaTotalBytes } from '../src/planner/index.ts';
import { GiB, waitFor } from './platform-helpers.ts';
import { startDeclaredCluster, type DeclaredCluster, type Provider } from './declared-cluster.ts';

const clusters: DeclaredCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.close().catch(() => {});
});

async function boot(provider: Provider): Promise<DeclaredCluster> {
  const c = await startDeclaredCluster(provider);
  clusters.push(c);
  return c;
}

for (const provider of ['sqlite', 'postgresql'] as const) {
  describe(`launch state on ${provider}`, () => {
    it('a replica its worker gave up on releases its GPU claim: a launch that needs the memory then succeeds', async () => {
      const { call, report, replicaIds } = await boot(provider);
      const first = await call('POST', '/v1/models', { model_name: 'stories', model_uid: 'broken', gpu_memory_utilization: 0.6, max_model_len: 256 });
      expect(first.status, JSON.stringify(first.json)).toBe(200);
      // While the first claims 60% of the GPU, a second launch of the same size does not fit.
      const refused = await call('POST', '/v1/models', { model_name: 'stories', model_uid: 'second', gpu_memory_utilization: 0.6, max_model_len: 256 });
      expect(refused.status).toBe(409);

      const [replica] = await replicaIds('broken');
      await report(replica!, 'broken', { status: 'loading', restarts: 5, last_error: 'the runner exited with code 1' });
      await report(replica!, 'broken', { status: 'failed', restarts: 5, last_error: 'the runner exited with code 1 6 times in a row; gave up after 5 restarts' });
      const failed = await waitFor('the model to read failed', async () => {
        const { json } = await call('GET', '/v1/models/broken');
        return json.status === 'failed' ? json : null;
      }, 10_000, 50);
      expect(failed.last_error).toMatch(/gave up after 5 restarts/);
      const devices = (await call('GET', '/v1/cluster/devices')).json;
      expect(devices.find((d: any) => d.kind === 'gpu').memory_claimed).toBe(0);

      const second = await call('POST', '/v1/models', { model_name: 'stories', model_uid: 'second', gpu_memory_utilization: 0.6, max_model_len: 256 });
      expect(second.status, JSON.stringify(second.json)).toBe(200);
      // The failed model stays listed with its error until it is terminated; terminating it changes no claim.
      expect((await call('GET', '/v1/models?all=1')).json.data.map((m: any) => [m.id, m.status])).toEqual([
        ['broken', 'failed'],
        ['second', 'launching'],
      ]);
      expect((await call('DELETE', '/v1/models/broken')).status).toBe(200);
      const after = (await call('GET', '/v1/cluster/devices')).json;
      // 60% of what CUDA can use of the 8 GiB card.
      expect(after.find((d: any) => d.kind === 'gpu').memory_claimed).toBe(Math.floor(cudaTotalBytes(8 * GiB) * 0.6));
    });

    it('a model scaled to 0 reads stopped, and a request to it gets a 503 that says so', async () => {
      const { call, report, replicaIds } = await boot(provider);
      expect((await call('POST', '/v1/models', { model_name: 'stories', model_uid: 'idle', gpu_memory_utilization: 0.3, max_model_len: 256 })).status).toBe(200);
      const [replica] = await replicaIds('idle');
      await report(replica!, 'idle', { status: 'ready', progress: 1, port: 1 });
      await waitFor('the model to be ready', async () => (await call('GET', '/v1/models/idle')).json.status === 'ready', 10_000, 50);

      const scaled = await call('POST', '/v1/models/idle/replicas', { replica: 0 });
      expect(scaled.status, JSON.stringify(scaled.json)).toBe(200);
      expect(scaled.json.status).toBe('stopped');
      const view = (await call('GET', '/v1/models/idle')).json;
      expect(view).toMatchObject({ status: 'stopped', replica: 0, replicas: [] });
      // Not among the servable models; listed as stopped with all=1.
      expect((await call('GET', '/v1/models')).json.data).toEqual([]);
      expect((await call('GET', '/v1/models?all=1')).json.data.map((m: any) => [m.id, m.status])).toEqual([['idle', 'stopped']]);
      // Several passes later it still reads stopped (the reconcile loop agrees).
      await new Promise((r) => setTimeout(r, 600));
      expect((await call('GET', '/v1/models/idle')).json.status).toBe('stopped');

      const chat = await call('POST', '/v1/chat/completions', { model: 'idle', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      expect(chat.status).toBe(503);
      expect(chat.json.error.message).toMatch(/'idle' is stopped: it is scaled to 0 replicas; scale it up/);
      expect(chat.json.error.message).not.toMatch(/no replica is ready yet/);

      const up = await call('POST', '/v1/models/idle/replicas', { replica: 1 });
      expect(up.json.status).toBe('launching');
      const again = await call('POST', '/v1/completions', { model: 'idle', prompt: 'hi', max_tokens: 4 });
      expect(again.status).toBe(503);
      expect(again.json.error.message).toMatch(/no replica is ready yet/);
    });
  });
}
