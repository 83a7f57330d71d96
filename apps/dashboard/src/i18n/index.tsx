// The locale: which catalog is shown, remembered in localStorage, and Intl formatters for numbers,
// bytes, percentages and dates in that locale.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { initialLocale, makeI18n, STORAGE_KEY, type I18n, type Locale } from './translate.ts';

export { LOCALES, makeI18n, type I18n, type Locale, type Translate } from './translate.ts';

const I18nContext = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [locale, setLocale] = useState<Locale>(initialLocale);
  useEffect(() => {
    localStorage.setItem(STORAGE_KEY, locale);
    document.documentElement.lang = locale;
  }, [locale]);
  const value = useMemo(() => makeI18n(locale, setLocale), [locale]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const v = useContext(I18nContext);
  if (!v) throw new Error('useI18n outside I18nProvider');
  return v;
}
