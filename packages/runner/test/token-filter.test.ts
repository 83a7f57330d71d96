// allowed_token_ids and bad_words as a mask: the word's last token is barred only right after its
// other tokens, and a grammar's mask is ANDed in.
import { describe, expect, it } from 'vitest';
import { TokenFilter } from '../src/backends/token-filter.ts';
import { allowed } from '../src/structured/grammar-constraint.ts';

const VOCAB = 70;
const allowedIds = (mask: Int32Array | null) =>
  mask ? [...Array(VOCAB).keys()].filter((t) => allowed(mask, t)) : null;

describe('token filter', () => {
  it('bars a bad word\'s last token only after the rest of it', () => {
    const f = new TokenFilter({ allowed: null, badWords: [[5, 6, 7], [9]] }, VOCAB);
    const at = (index: number, tokens: number[]) => allowedIds(f.nextMask(index, tokens) as Int32Array);
    expect(at(0, [])).not.toContain(9);
    expect(at(0, [])).toContain(7);
    expect(at(0, [5])).toContain(7);
    expect(at(0, [6])).not.toContain(7); // history 5, 6: the next 7 would finish the word
    expect(at(0, [1])).toContain(7);
    // outputs keep their own history
    expect(at(1, [5, 6])).not.toContain(7);
    expect(at(0, [])).toHaveLength(VOCAB - 1);
  });

  it('allows only the allowed ids, ANDed with a grammar; a mask allowing nothing ends the output', async () => {
    let released = false;
    const grammar = {
      nextMask: async () => {
        const m = new Int32Array(Math.ceil(VOCAB / 32));
        for (const t of [3, 4, 40]) m[t >> 5]! |= 1 << (t & 31);
        return m;
      },
      release: () => (released = true),
    };
    const f = new TokenFilter({ allowed: [4, 40, 64], badWords: [] }, VOCAB, grammar);
    expect(allowedIds(await f.nextMask(0, []))).toEqual([4, 40]);
    const none = new TokenFilter({ allowed: [2], badWords: [[2]] }, VOCAB);
    expect(none.nextMask(0, [])).toBeNull();
    f.release();
    expect(released).toBe(true);
  });
});
