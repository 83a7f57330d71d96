// One catalog entry as a card: name, family, abilities, sizes and formats, context, and the button
// that opens its launch form.
import type { CatalogEntry } from '../api/catalog.ts';
import { useI18n } from '../i18n/index.tsx';
import type { MessageKey } from '../i18n/en.ts';

export function ModelCard({ entry, onChoose }: { entry: CatalogEntry; onChoose(): void }) {
  const { t, num } = useI18n();
  const f = entry.family;
  const sizes = [...new Set(f.model_specs.map((s) => s.model_size_in_billions))].sort(
    (a, b) => a - b,
  );
  const formats = [...new Set(f.model_specs.map((s) => s.model_format))];
  return (
    <article className="card model-card" aria-labelledby={`card-${f.model_name}`}>
      <header>
        <h2 id={`card-${f.model_name}`}>{f.model_name}</h2>
        <span className={`tag ${f.source === 'custom' ? 'tag-accent' : ''}`}>
          {f.source === 'custom' ? t('launch.custom') : t('launch.builtin')}
        </span>
      </header>
      <p className="muted desc">{f.model_description || f.model_family}</p>
      <dl className="facts">
        <div>
          <dt>{t('launch.family')}</dt>
          <dd>{f.model_family}</dd>
        </div>
        <div>
          <dt>{t('launch.size')}</dt>
          <dd>
            {sizes.map((s) => (s < 0.1 ? `${num(s * 1000, 1)} M` : `${num(s, 1)} B`)).join(' · ')}
          </dd>
        </div>
        <div>
          <dt>{t('launch.format')}</dt>
          <dd>{formats.join(' · ')}</dd>
        </div>
        <div>
          <dt>{t('launch.engine')}</dt>
          <dd>{Object.keys(entry.engines).join(' · ')}</dd>
        </div>
      </dl>
      <div className="chips">
        {f.model_ability.map((a) => (
          <span key={a} className="chip">
            {t(`ability.${a}` as MessageKey)}
          </span>
        ))}
        <span className="chip chip-quiet">
          {t('launch.context', { tokens: num(f.context_length, 0) })}
        </span>
      </div>
      <button
        type="button"
        className="btn"
        onClick={onChoose}
        aria-label={`${t('launch.choose')} ${f.model_name}`}
      >
        {t('launch.choose')}
      </button>
    </article>
  );
}
