// Prints the planner's memory plan beside the engine's measured profile (bench/results/h200-memory-profile-*.json,
// from native/tests/cuda/memory_profile_on_device.sh) as the Markdown table docs/platform.md quotes: per run,
// each component predicted from config.json, measured, and their ratio; runs the engine refused, with its reason
// and the planner's.
//
//   node --import tsx packages/server/bench/memory-plan-vs-engine.ts [results.json]
import { plan } from '../src/planner/index.ts';
import { componentRows, engineBlocks, engineGraphCharge, graphsCaptured, loadProfileResults, planSettings, predict, PROFILE_RESULTS } from '../test/measured-profiles.ts';

const file = process.argv[2] ?? PROFILE_RESULTS;
const results = loadProfileResults(file);
const MiB = 2 ** 20;
const fmt = (name: string, n: number) =>
  name.includes('tokens') ? Math.round(n).toLocaleString('en-US') : `${(n / MiB).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;

console.log(`Planner (from config.json, GPU total ${results.gpu_total / MiB} MiB as nvidia-smi reports it) vs engine (${file}):\n`);
console.log('| run | component | predicted | engine | ratio |');
console.log('| --- | --- | --- | --- | --- |');
for (const run of results.runs) {
  if (!run.measured) {
    const p = plan({ model: { arch: run.arch }, params: planSettings(run), devices: [{ worker: 'h200', index: 0, total: results.gpu_total }] });
    console.log(`| ${run.run} | refused | ${p.fits ? 'fits (!)' : p.problems.join('; ')} | ${run.error} | |`);
    continue;
  }
  const p = predict(run, results.gpu_total);
  const withProfile = { ...run, measured: run.measured };
  for (const [name, predicted, measured] of componentRows(p, withProfile, results.gpu_total)) {
    const diff = name.includes('tokens') && predicted !== measured ? ` (${predicted > measured ? '+' : ''}${predicted - measured})` : '';
    console.log(`| ${run.run} | ${name} | ${fmt(name, predicted)} | ${fmt(name, measured)} | ${(predicted / measured).toFixed(4)}${diff} |`);
  }
  console.log(`| ${run.run} | CUDA graphs (captured) | | ${fmt('', graphsCaptured(run.measured))} | reserve ${(p.cuda_graphs / graphsCaptured(run.measured)).toFixed(4)}x |`);
}
// A utilization the call had no time to load: the engine's block arithmetic on the profile it measured
// at 0.9 (the profile comes before the utilization is used), beside the plan.
for (const run of results.runs) {
  const other = run.run.replace('-u0.9', '-u0.5');
  if (!run.measured || other === run.run || results.runs.some((r) => r.run === other)) continue;
  const withProfile = { ...run, measured: run.measured };
  const blocks = engineBlocks(withProfile, results.gpu_total, 0.5, engineGraphCharge(withProfile));
  const tokens = blocks * run.settings.block_size;
  const params = { ...planSettings(run), gpu_memory_utilization: 0.5 };
  const p = plan({ model: { arch: run.arch }, params, devices: [{ worker: 'h200', index: 0, total: results.gpu_total }] });
  const engine = tokens < params.max_model_len ? `refused: holds ${tokens.toLocaleString('en-US')} tokens < max_model_len ${params.max_model_len}` : `${tokens} tokens`;
  console.log(`| ${other} (engine arithmetic on the 0.9 profile) | KV cache tokens | ${p.fits ? 'fits' : `refused; ${p.suggestions.map((s) => s.message).join(', or ')}`} | ${engine} | |`);
}
