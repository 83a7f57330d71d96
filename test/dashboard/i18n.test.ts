// The two catalogs: the same keys, nothing left empty, the same {placeholders}, and the Chinese one
// actually translated (not the English text copied over).
import { describe, expect, it } from 'vitest';
import { en } from '../../apps/dashboard/src/i18n/en.ts';
import { zhCN } from '../../apps/dashboard/src/i18n/zh-CN.ts';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('dashboard catalogs', () => {
  it('en and zh-CN have exactly the same keys', () => {
    expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort());
  });

  it('leaves no string empty', () => {
    for (const [k, v] of [...Object.entries(en), ...Object.entries(zhCN)])
      expect(v.trim(), k).not.toBe('');
  });

  it('keeps every {placeholder} in the translation', () => {
    for (const [k, v] of Object.entries(en))
      expect(placeholders(zhCN[k as keyof typeof en]), k).toEqual(placeholders(v));
  });

  it('translates every sentence: only names and units may read the same in both', () => {
    const same = Object.entries(en)
      .filter(([k, v]) => zhCN[k as keyof typeof en] === v)
      .map(([k]) => k);
    expect(same.sort()).toEqual(['app.title', 'common.cpu', 'common.gpu'].sort());
  });
});
