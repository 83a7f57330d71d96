// Benchmark (not a test): what structured output costs the engine. A batch of S streams (fixed
// lengths, random token-id prompts) through packages/engine, once all unconstrained and once with
// half of them under a real xgrammar grammar (GrammarConstraint: the runner's path, masks computed
// in JavaScript beside the next forward), rounds interleaved; prints decode tokens/s per sequence of
// each kind beside the unconstrained batch's, and the JavaScript time per mask.
//
//   node --import tsx packages/runner/bench/structured-output-overhead.ts [--model DIR] [--streams 32]
//        [--input-len 32] [--output-len 128] [--rounds 5] [--threads 1] [--out FILE.json]
import { execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Engine, type SamplingParams, type TokenConstraint } from '@pagoda/engine';
import { GrammarConstraint } from '../src/structured/grammar-constraint.ts';
import { ModelGrammars } from '../src/structured/grammar-compiler.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: `${REPO}../shared/models/stories260k` },
    streams: { type: 'string', default: '32' },
    'input-len': { type: 'string', default: '32' },
    'output-len': { type: 'string', default: '128' },
    rounds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
  strict: true,
});
const streams = Number(values.streams);
const inputLen = Number(values['input-len']);
const outputLen = Number(values['output-len']);
const rounds = Number(values.rounds);

// A JSON list of strings that never closes ({"notes":["...","...",...): every token of every
// constrained stream is masked, none may end it, so both kinds run exactly output-len tokens.
const GRAMMAR = 'root ::= "{\\"notes\\":[" items\nitems ::= "\\"" [a-z .]* "\\"," items';

/** The constraint, timed: milliseconds spent in JavaScript computing masks. */
class TimedConstraint implements TokenConstraint {
  static ms = 0;
  static masks = 0;
  constructor(private readonly inner: GrammarConstraint) {}
  async nextMask(index: number, accepted: readonly number[]): Promise<Int32Array | null> {
    const t = performance.now();
    const mask = await this.inner.nextMask(index, accepted);
    TimedConstraint.ms += performance.now() - t;
    TimedConstraint.masks++;
    return mask;
  }
  release(): void {
    this.inner.release();
  }
}

let seed = 12345;
const prompt = (vocab: number) =>
  Array.from(
    { length: inputLen },
    () => 3 + ((seed = (seed * 1103515245 + 12345) % 2147483648) % (vocab - 3)),
  );

interface RoundResult {
  seconds: number;
  /** Decode tokens/s of one sequence of each kind, from its first token to its last. */
  constrained_seq_tps: number | null;
  unconstrained_seq_tps: number;
  batch_tps: number;
}

async function round(
  engine: Engine,
  vocab: number,
  grammars: ModelGrammars | null,
  constrained: number,
): Promise<RoundResult> {
  const compiled = grammars
    ? await grammars.compile({ kind: 'ebnf', grammar: GRAMMAR, param: 'bench' })
    : null;
  const params: SamplingParams = { max_tokens: outputLen, temperature: 0, ignore_eos: true };
  const t0 = performance.now();
  const spans = await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const isConstrained = i < constrained && compiled !== null && grammars !== null;
      const constraint = isConstrained
        ? new TimedConstraint(
            new GrammarConstraint(compiled, Number.MAX_SAFE_INTEGER, grammars.closing),
          )
        : undefined;
      let first = 0;
      let last = 0;
      let tokens = 0;
      const deltas = engine.generate(
        prompt(vocab),
        isConstrained ? { ...params, constrained: true } : params,
        constraint ? { constraint } : {},
      );
      for await (const d of deltas) {
        if (d.token_ids.length === 0) continue;
        if (tokens === 0) first = performance.now();
        last = performance.now();
        tokens += d.token_ids.length;
      }
      return { isConstrained, tps: (tokens - 1) / ((last - first) / 1000), tokens };
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    seconds,
    constrained_seq_tps: mean(spans.filter((s) => s.isConstrained).map((s) => s.tps)),
    unconstrained_seq_tps: mean(spans.filter((s) => !s.isConstrained).map((s) => s.tps))!,
    batch_tps: spans.reduce((a, s) => a + s.tokens, 0) / seconds,
  };
}

const engine = await Engine.load({
  model: values.model,
  device: 'cpu',
  max_num_seqs: streams,
  max_model_len: inputLen + outputLen + 8,
  num_threads: Number(values.threads),
});
const info = engine.modelInfo();
const grammars = await ModelGrammars.load(values.model, info.vocab_size, info.eos_token_ids);
await round(engine, info.vocab_size, grammars, streams / 2); // warm-up: compile, first matchers
const plain: RoundResult[] = [];
const mixed: RoundResult[] = [];
for (let r = 0; r < rounds; r++) {
  plain.push(await round(engine, info.vocab_size, null, 0));
  TimedConstraint.ms = 0;
  TimedConstraint.masks = 0;
  mixed.push({ ...(await round(engine, info.vocab_size, grammars, streams / 2)), ...{} });
  (mixed[r] as RoundResult & { mask_ms_each?: number }).mask_ms_each =
    TimedConstraint.ms / TimedConstraint.masks;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const plainSeq = median(plain.map((r) => r.unconstrained_seq_tps));
const summary = {
  unconstrained_batch_seq_tps_median: plainSeq,
  mixed_constrained_seq_tps_median: median(mixed.map((r) => r.constrained_seq_tps!)),
  mixed_unconstrained_seq_tps_median: median(mixed.map((r) => r.unconstrained_seq_tps)),
  constrained_ratio: median(mixed.map((r) => r.constrained_seq_tps!)) / plainSeq,
  unconstrained_ratio: median(mixed.map((r) => r.unconstrained_seq_tps)) / plainSeq,
  mask_ms_each_median: median(
    mixed.map((r) => (r as RoundResult & { mask_ms_each: number }).mask_ms_each),
  ),
};
console.log(
  `decode tokens/s per sequence, batch of ${streams}: unconstrained batch ${plainSeq.toFixed(1)}; with ${streams / 2} constrained: ` +
    `constrained ${summary.mixed_constrained_seq_tps_median.toFixed(1)} (${summary.constrained_ratio.toFixed(3)}), ` +
    `unconstrained ${summary.mixed_unconstrained_seq_tps_median.toFixed(1)} (${summary.unconstrained_ratio.toFixed(3)}); ` +
    `${summary.mask_ms_each_median.toFixed(3)} ms of JavaScript per mask (median of ${rounds} interleaved rounds)`,
);
if (values.out) {
  const commit = execSync('git rev-parse --short HEAD', { cwd: REPO }).toString().trim();
  writeFileSync(
    values.out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        commit,
        command: `node --import tsx packages/runner/bench/structured-output-overhead.ts ${process.argv.slice(2).join(' ')}`,
        workload: {
          streams,
          constrained: streams / 2,
          input_len: inputLen,
          output_len: outputLen,
          model: values.model,
          grammar: GRAMMAR,
          engine_threads: Number(values.threads),
        },
        machine: {
          cpus: availableParallelism(),
          cpu_model: cpus()[0]?.model ?? null,
          node: process.version,
          loadavg_at_end: (await import('node:os')).loadavg(),
        },
        summary,
        rounds: { plain, mixed },
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${values.out}`);
}
grammars.dispose();
await engine.close();
