// Prints the planner's memory plan beside the engine's measured profile (bench/results/h200-memory-profile-*.json,
// from native/tests/cuda/memory_profile_on_device.sh) as the Markdown table docs/platform.md quotes: per run,
// each component predicted from config.json, measured, and their ratio; runs the engine refused, with its reason
// and the planner's.
//
//   node --import tsx packages/server/bench/memory-plan-vs-engine.ts [results.json]
import { cudaTotalBytes, kvCacheBlocks, plan } from '../src/planner/index.ts';
import { componentRows, loadProfileResults, planSettings, predict, PROFILE_RESULTS } from '../test/measured-profiles.ts';

const file = process.argv[2] ?? PROFILE_RESULTS;
const results = loadProfileResults(file);
const MiB = 2 ** 20;
const fmt = (name: string, n: number) =>
  name.includes('tokens') ? Math.round(n).toLocaleString('en-US') : `${(n / MiB).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;

console.log(`Planner (from config.json, GPU total ${results.gpu_total / MiB} MiB as nvidia-smi reports it) vs engine (${file}):\n`);
console.log('| run | component | predicted | measured | ratio |');
console.log('| --- | --- | --- | --- | --- |');
for (const run of results.runs) {
  if (!run.measured) {
    const p = plan({ model: { arch: run.arch }, params: planSettings(run), devices: [{ worker: 'h200', index: 0, total: results.gpu_total }] });
    console.log(`| ${run.run} | refused | ${p.fits ? 'fits (!)' : p.problems.join('; ')} | ${run.error} | |`);
    continue;
  }
  const p = predict(run, results.gpu_total);
  for (const [name, predicted, measured] of componentRows(p, run.measured)) {
    const diff = name.includes('tokens') && predicted !== measured ? ` (${predicted > measured ? '+' : ''}${predicted - measured})` : '';
    console.log(`| ${run.run} | ${name} | ${fmt(name, predicted)} | ${fmt(name, measured)} | ${(predicted / measured).toFixed(4)}${diff} |`);
  }
}
// A utilization the call had no time to load: the engine's block arithmetic on the profile it measured
// at 0.9 (the profile comes before the utilization is used), beside the plan.
for (const run of results.runs) {
  const other = run.run.replace('-u0.9', '-u0.5');
  if (!run.measured || other === run.run || results.runs.some((r) => r.run === other)) continue;
  const m = run.measured;
  const blocks = kvCacheBlocks({
    cuda_total: cudaTotalBytes(results.gpu_total),
    gpu_memory_utilization: 0.5,
    weights: m.weights_bytes,
    peak_activation: m.peak_activation_bytes,
    cuda_graphs: m.cuda_graph_bytes,
    kv_bytes_per_block: m.kv_bytes_per_block,
    block_size: run.settings.block_size,
  });
  const tokens = blocks * run.settings.block_size;
  const params = { ...planSettings(run), gpu_memory_utilization: 0.5 };
  const p = plan({ model: { arch: run.arch }, params, devices: [{ worker: 'h200', index: 0, total: results.gpu_total }] });
  const engine = tokens < params.max_model_len ? `refused: holds ${tokens.toLocaleString('en-US')} tokens < max_model_len ${params.max_model_len}` : `${tokens} tokens`;
  console.log(`| ${other} (engine arithmetic on the 0.9 profile) | KV cache tokens | ${p.fits ? 'fits' : `refused; ${p.suggestions.map((s) => s.message).join(', or ')}`} | ${engine} | |`);
}
