// The catalogs and the formatters of a locale, without React: what index.tsx provides to pages and
// what tests (no JSX) use to word things as a page would.
import { en, type MessageKey } from './en.ts';
import { zhCN } from './zh-CN.ts';

export const LOCALES = { en: 'English', 'zh-CN': '简体中文' } as const;
export type Locale = keyof typeof LOCALES;
const CATALOGS: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN };
export const STORAGE_KEY = 'pagoda.locale';

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

export interface I18n {
  locale: Locale;
  setLocale(locale: Locale): void;
  t: Translate;
  num(n: number, digits?: number): string;
  bytes(n: number): string;
  pct(fraction: number): string;
  date(iso: string | number | Date): string;
  time(iso: string | number | Date): string;
  /** Time of day to the second, for log lines. */
  clock(iso: string | number | Date): string;
}

export function initialLocale(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && saved in LOCALES) return saved as Locale;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function makeI18n(locale: Locale, setLocale: (l: Locale) => void): I18n {
  const catalog = CATALOGS[locale];
  const numbers = new Map<number, Intl.NumberFormat>();
  const numberFormat = (digits: number) => {
    let f = numbers.get(digits);
    if (!f)
      numbers.set(digits, (f = new Intl.NumberFormat(locale, { maximumFractionDigits: digits })));
    return f;
  };
  const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
  const dates = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' });
  const times = new Intl.DateTimeFormat(locale, {
    month: 'numeric',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const clocks = new Intl.DateTimeFormat(locale, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
  return {
    locale,
    setLocale,
    t: (key, values) => {
      const text = catalog[key] ?? en[key] ?? key;
      return values
        ? text.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m))
        : text;
    },
    num: (n, digits = 2) => numberFormat(digits).format(n),
    bytes: (n) => {
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let i = 0;
      let v = n;
      while (Math.abs(v) >= 1024 && i < units.length - 1) {
        v /= 1024;
        i += 1;
      }
      return `${numberFormat(i === 0 ? 0 : v >= 100 ? 0 : 1).format(v)} ${units[i]}`;
    },
    pct: (f) => percent.format(f),
    date: (d) => dates.format(new Date(d)),
    time: (d) => times.format(new Date(d)),
    clock: (d) => clocks.format(new Date(d)),
  };
}
