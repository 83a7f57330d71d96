// The cancel-during-launch race: a terminate job that reaches the worker before, together with or
// just after its launch job must leave no runner alive. Real `pagoda serve` runners (stories260k as
// GGUF through llama.cpp); survivors are found by the replica id in every process's environment.
import { readdirSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { LaunchJob, ReplicaReport } from '@pagoda/protocol';
import { convertLlamaToGguf } from '@pagoda/gguf';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Supervisor } from '../src/supervisor.ts';

const STORIES = resolve(import.meta.dirname, '../../../../shared/models/stories260k');
const gguf = join(mkdtempSync(join(tmpdir(), 'pagoda-race-')), 'stories.gguf');
convertLlamaToGguf({ dir: STORIES, out: gguf, outtype: 'f32' });

let next = 0;
function job(): LaunchJob {
  next += 1;
  return {
    kind: 'launch',
    replica_id: `race-${process.pid}-${next}`,
    model_uid: `race-model-${next}`,
    replica_index: 0,
    engine: 'llama.cpp',
    source: { model_path: gguf, hf_repo_id: null, revision: null },
    gpu_idx: [],
    engine_kwargs: { max_model_len: 128 },
  };
}

/** pids of live processes started for this replica (the runner and anything it spawned). */
function processesOf(replicaId: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (env.split('\0').includes(`PAGODA_REPLICA_ID=${replicaId}`)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function supervisor(): { sup: Supervisor; reports: ReplicaReport[] } {
  const sup = new Supervisor({
    host: '127.0.0.1',
    cacheDir: undefined,
    declaredGpus: true,
    log: pino({ level: 'silent' }),
    env: { ...process.env, PAGODA_LOG_LEVEL: 'warn' },
    maxRestarts: 0,
  });
  const reports: ReplicaReport[] = [];
  sup.on('update', (r) => reports.push(r));
  return { sup, reports };
}

const supervisors: Supervisor[] = [];
afterAll(async () => {
  await Promise.all(supervisors.map((s) => s.stopAll()));
});

describe('cancel during launch', () => {
  it('a terminate that overtakes its launch job bars the launch: no runner ever starts', async () => {
    const { sup, reports } = supervisor();
    supervisors.push(sup);
    const j = job();
    await sup.terminate(j.replica_id);
    sup.launch(j);
    await sleep(1500);
    expect(processesOf(j.replica_id)).toEqual([]);
    expect(sup.has(j.replica_id)).toBe(false);
    expect(reports.filter((r) => r.replica_id === j.replica_id).map((r) => r.status)).toEqual([
      'stopped',
    ]);
  });

  it('a terminate at any moment of the start (0 ms to loaded) leaves no runner alive', async () => {
    const { sup } = supervisor();
    supervisors.push(sup);
    for (const delay of [0, 1, 3, 10, 50, 200, 800]) {
      const j = job();
      sup.launch(j);
      await sleep(delay);
      await sup.terminate(j.replica_id);
      await sleep(300);
      expect(processesOf(j.replica_id), `terminated ${delay} ms after launch`).toEqual([]);
      expect(sup.has(j.replica_id)).toBe(false);
    }
  });

  it('a launch that arrives after shutdown starts nothing, and shutdown stops a runner mid-start', async () => {
    const { sup } = supervisor();
    const starting = job();
    sup.launch(starting);
    await sleep(5);
    await sup.stopAll();
    const late = job();
    sup.launch(late);
    await sleep(1500);
    expect(processesOf(starting.replica_id)).toEqual([]);
    expect(processesOf(late.replica_id)).toEqual([]);
  });

  it('without a cancel the same launch does start a runner (the check above can see one)', async () => {
    const { sup, reports } = supervisor();
    supervisors.push(sup);
    const j = job();
    sup.launch(j);
    for (
      let i = 0;
      i < 100 && !reports.some((r) => r.replica_id === j.replica_id && r.status === 'ready');
      i++
    )
      await sleep(100);
    expect(
      reports.some((r) => r.replica_id === j.replica_id && r.status === 'ready'),
      JSON.stringify(reports.at(-1)),
    ).toBe(true);
    expect(processesOf(j.replica_id).length).toBeGreaterThan(0);
    await sup.terminate(j.replica_id);
    await sleep(300);
    expect(processesOf(j.replica_id)).toEqual([]);
  });
});
