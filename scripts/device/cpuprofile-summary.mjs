// Where a Node process spent its main thread: reads a V8 .cpuprofile (node --cpu-prof) and prints how
// busy the thread was and the functions with the most self and inclusive time, optionally only within a
// window of CLOCK_MONOTONIC seconds (what stack-bench.sh records around each benchmark run in windows.txt).
//   node cpuprofile-summary.mjs FILE.cpuprofile [--from S --to S] [--top N]
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { parseArgs } from 'node:util';

const print = (line) => process.stdout.write(`${line}\n`);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string' } },
});
if (positionals.length !== 1) {
  process.stderr.write('usage: node cpuprofile-summary.mjs FILE.cpuprofile [--from S --to S] [--top N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const from = values.from === undefined ? -Infinity : Number(values.from) * 1e6;
const to = values.to === undefined ? Infinity : Number(values.to) * 1e6;
const top = Number(values.top ?? 25);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const f = n.callFrame;
  const file = f.url ? f.url.split('/').pop() : '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
};

// Sample i covers the time from its timestamp to the next one.
const selfTime = new Map();
const inclusive = new Map();
let t = profile.startTime;
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  const next = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
  if (t < from || t > to) continue;
  const node = byId.get(profile.samples[i]);
  const name = label(node);
  total += next;
  if (name.startsWith('(idle)')) {
    idle += next;
    continue;
  }
  selfTime.set(name, (selfTime.get(name) ?? 0) + next);
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id));
    if (l === '(root)' || seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + next);
  }
}
const ms = (us) => (us / 1000).toFixed(1).padStart(9);
const busy = total - idle;
print(`window ${ms(total)} ms, main thread busy ${ms(busy)} ms (${((100 * busy) / Math.max(total, 1)).toFixed(1)}%)`);
const list = (title, m) => {
  print(`-- ${title} (ms, % of busy)`);
  for (const [name, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    print(`${ms(us)} ${((100 * us) / Math.max(busy, 1)).toFixed(1).padStart(5)}%  ${name}`);
};
list('self', selfTime);
list('inclusive', inclusive);
