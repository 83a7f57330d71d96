// Benchmark runs named by what sets them apart: the settings that differ between the runs shown
// (model, requests, prompt and output length, rate, concurrency), not the time they ran.
import type { BenchRun } from '@pagoda/protocol';

export type BenchSetting = 'model_uid' | 'num_prompts' | 'input_len' | 'output_len' | 'request_rate' | 'max_concurrency';
const SETTINGS: BenchSetting[] = ['model_uid', 'num_prompts', 'input_len', 'output_len', 'request_rate', 'max_concurrency'];

function value(r: BenchRun, s: BenchSetting): string | number | null {
  return s === 'model_uid' ? r.model_uid : r.params[s];
}

/** The settings whose values are not all the same across `runs`. */
export function differingSettings(runs: readonly BenchRun[]): BenchSetting[] {
  return SETTINGS.filter((s) => new Set(runs.map((r) => String(value(r, s)))).size > 1);
}

/**
 * One label per run: the differing settings written by `say`, joined with ' · '. Runs whose settings
 * are all alike are told apart by their number among `runs` (oldest first), through `nth`; so are
 * runs that differ in nothing from another one shown.
 */
export function runLabels(
  runs: readonly BenchRun[],
  say: (setting: BenchSetting, value: string | number | null) => string,
  nth: (n: number) => string,
): string[] {
  const keys = differingSettings(runs);
  const order = [...runs].sort((a, b) => a.started_at.localeCompare(b.started_at)).map((r) => r.id);
  const labels = runs.map((r) => keys.map((k) => say(k, value(r, k))).join(' · '));
  return runs.map((r, i) => {
    const twin = labels.some((l, j) => j !== i && l === labels[i]);
    const n = nth(order.indexOf(r.id) + 1);
    return labels[i] === '' ? n : twin ? `${labels[i]} · ${n}` : labels[i]!;
  });
}
