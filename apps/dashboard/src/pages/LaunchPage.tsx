// Launch: the catalog and the user's registrations as cards, searched and filtered by family, size,
// ability, format and engine; picking one opens the launch form with its live memory plan.
import { useMemo, useState } from 'react';
import { loadCatalog } from '../api/catalog.ts';
import { usePoll } from '../api/use-poll.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { LaunchPanel } from '../components/LaunchPanel.tsx';
import { ModelCard } from '../components/ModelCard.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { useI18n } from '../i18n/index.tsx';
import type { MessageKey } from '../i18n/en.ts';
import { query } from '../router.tsx';

const SIZES: Array<{ key: string; label: MessageKey; test: (b: number) => boolean }> = [
  { key: 'small', label: 'launch.sizeSmall', test: (b) => b < 1 },
  { key: 'medium', label: 'launch.sizeMedium', test: (b) => b >= 1 && b < 10 },
  { key: 'large', label: 'launch.sizeLarge', test: (b) => b >= 10 && b < 40 },
  { key: 'huge', label: 'launch.sizeHuge', test: (b) => b >= 40 },
];


const uniq = (xs: string[]) => [...new Set(xs)].sort();

export function LaunchPage() {
  const { t } = useI18n();
  const catalog = usePoll(loadCatalog, 0);
  const [search, setSearch] = useState('');
  const [filters, setFilters] = useState({
    family: '',
    size: '',
    ability: '',
    format: '',
    engine: '',
  });
  const [chosen, setChosen] = useState<string | null>(query('model'));
  const entries = catalog.data ?? [];

  const options = useMemo(
    () => ({
      family: uniq(entries.map((e) => e.family.model_family)),
      ability: uniq(entries.flatMap((e) => e.family.model_ability)),
      format: uniq(entries.flatMap((e) => e.family.model_specs.map((s) => s.model_format))),
      engine: uniq(entries.flatMap((e) => Object.keys(e.engines))),
    }),
    [entries],
  );

  const shown = entries.filter(({ family: f, engines }) => {
    const q = search.trim().toLowerCase();
    if (
      q &&
      ![f.model_name, f.model_family, f.model_description].some((s) => s.toLowerCase().includes(q))
    )
      return false;
    if (filters.family && f.model_family !== filters.family) return false;
    if (filters.ability && !f.model_ability.includes(filters.ability)) return false;
    if (filters.format && !f.model_specs.some((s) => s.model_format === filters.format))
      return false;
    if (filters.engine && !engines[filters.engine]) return false;
    const size = SIZES.find((s) => s.key === filters.size);
    if (size && !f.model_specs.some((s) => size.test(s.model_size_in_billions))) return false;
    return true;
  });
  const selected = entries.find((e) => e.family.model_name === chosen) ?? null;

  const select = (
    key: keyof typeof filters,
    label: MessageKey,
    values: Array<{ value: string; text: string }>,
  ) => (
    <label className="filter">
      <span>{t(label)}</span>
      <select
        value={filters[key]}
        onChange={(e) => setFilters({ ...filters, [key]: e.target.value })}
      >
        <option value="">{t('common.all')}</option>
        {values.map((v) => (
          <option key={v.value} value={v.value}>
            {v.text}
          </option>
        ))}
      </select>
    </label>
  );
  const plain = (xs: string[]) => xs.map((x) => ({ value: x, text: x }));

  return (
    <>
      <PageHeader title={t('launch.title')} subtitle={t('launch.subtitle')} />
      {selected && <LaunchPanel entry={selected} onClose={() => setChosen(null)} />}
      <section className="filters">
        <label className="filter filter-search">
          <span>{t('launch.search')}</span>
          <input
            type="search"
            value={search}
            placeholder={t('launch.searchPlaceholder')}
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        {select('family', 'launch.family', plain(options.family))}
        {select(
          'size',
          'launch.size',
          SIZES.map((s) => ({ value: s.key, text: t(s.label) })),
        )}
        {select(
          'ability',
          'launch.ability',
          options.ability.map((a) => ({ value: a, text: t(`ability.${a}` as MessageKey) })),
        )}
        {select('format', 'launch.format', plain(options.format))}
        {select('engine', 'launch.engine', plain(options.engine))}
      </section>
      <ErrorNote error={catalog.error} />
      {!catalog.data && !catalog.error && <p className="muted">{t('common.loading')}</p>}
      {catalog.data && (
        <p className="muted count" aria-live="polite">
          {t('launch.results', { count: shown.length })}
        </p>
      )}
      {catalog.data && shown.length === 0 && <p className="empty">{t('launch.noResults')}</p>}
      <div className="cards">
        {shown.map((e) => (
          <ModelCard
            key={e.family.model_name}
            entry={e}
            onChoose={() => {
              setChosen(e.family.model_name);
              window.scrollTo({ top: 0, behavior: 'smooth' });
            }}
          />
        ))}
      </div>
    </>
  );
}
