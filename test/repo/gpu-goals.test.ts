// The README's GPU goals table against the committed JSONs it names: the text is what scripts/gpu-goals.ts computes
// from them, each file ran on the card whose column holds it, and the two runs of a ratio come from one device call.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BEGIN, CARDS, cardOf, END, GOALS, goalsTable, meets, readResult, ROOT, withTable } from '../../scripts/gpu-goals.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const HOUR_MS = 3_600_000;

describe('the GPU goals at a glance', () => {
  it('README.md holds the table the committed JSONs give', () => {
    const begin = README.indexOf(BEGIN);
    const end = README.indexOf(END);
    expect(begin).toBeGreaterThan(0);
    expect(README.slice(begin + BEGIN.length, end).trim()).toBe(goalsTable());
    expect(withTable(README, goalsTable())).toBe(README);
  });

  it('names in each card column only results that ran on that card', () => {
    const misplaced = GOALS.flatMap((goal) =>
      CARDS.flatMap((card) => (goal.files[card] ?? []).filter((f) => cardOf(readResult(f)) !== card).map((f) => `${card}: ${f}`)),
    );
    expect(misplaced).toEqual([]);
  });

  it('takes the two runs of a ratio from one device call', () => {
    for (const goal of GOALS.filter((g) => g.paired)) {
      for (const card of CARDS) {
        const files = goal.files[card];
        if (!files) continue;
        expect(files).toHaveLength(2);
        const [a, b] = files.map((f) => Date.parse(readResult(f).date));
        expect(Math.abs(a! - b!), `${goal.line} on the ${card}`).toBeLessThan(HOUR_MS);
      }
    }
  });

  it('judges a reading at the goal as met, and "under" strictly', () => {
    const at = (target: NonNullable<(typeof GOALS)[number]['target']>) => ({ ...GOALS[0]!, target });
    expect(meets(at({ atMost: 1.08 }), 1.08)).toBe(true);
    expect(meets(at({ atMost: 1.08 }), 1.0801)).toBe(false);
    expect(meets(at({ atLeast: 85 }), 84.99)).toBe(false);
    expect(meets(at({ atLeast: 85 }), 85)).toBe(true);
    expect(meets(at({ below: 1 }), 1)).toBe(false);
    expect(meets({ ...GOALS[0]!, target: null }, 1)).toBe(null);
  });

  it('refuses a file that is not a pagoda-bench result, naming it', () => {
    expect(() => readResult('../configs/llama-0.5b')).toThrow(/llama-0\.5b\.json is not a pagoda-bench result/);
  });
});
