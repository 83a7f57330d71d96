// Retrieval playground: a query against a few passages, ranked by a ready embedding model (cosine of
// /v1/embeddings vectors) and by a ready reranker (/v1/rerank), through the endpoints clients use.
import { useEffect, useState } from 'react';
import { cosine } from '@pagoda/client';
import type { ModelView } from '@pagoda/protocol';
import { api } from '../api/client.ts';
import { usePoll } from '../api/use-poll.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { Field } from '../components/Field.tsx';
import { ModelSelect } from '../components/ModelSelect.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { useI18n } from '../i18n/index.tsx';
import { Link } from '../router.tsx';
import './retrieval.css';

interface Ranked {
  index: number;
  score: number;
}

/** The first ready model of `type`, keeping `current` while it is still ready. */
function pick(models: ModelView[], current: string): string {
  return models.some((m) => m.model_uid === current) ? current : (models[0]?.model_uid ?? '');
}

export function RetrievalPage() {
  const { t, num } = useI18n();
  const ready = usePoll<ModelView[]>(() => api.listModels({ all: false }), 5000);
  const embedders = (ready.data ?? []).filter((m) => m.model_type === 'embedding');
  const rerankers = (ready.data ?? []).filter((m) => m.model_type === 'rerank');
  const [embedder, setEmbedder] = useState('');
  const [reranker, setReranker] = useState('');
  const [query, setQuery] = useState('');
  const [passages, setPassages] = useState('');
  const [byEmbedding, setByEmbedding] = useState<Ranked[] | null>(null);
  const [byReranker, setByReranker] = useState<Ranked[] | null>(null);
  const [texts, setTexts] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);

  useEffect(() => setEmbedder((e) => pick(embedders, e)), [embedders.map((m) => m.model_uid).join()]);
  useEffect(() => setReranker((r) => pick(rerankers, r)), [rerankers.map((m) => m.model_uid).join()]);

  const run = async () => {
    const docs = passages.split('\n').map((p) => p.trim()).filter(Boolean);
    if (!query.trim() || docs.length === 0) return;
    setBusy(true);
    setError(null);
    setTexts(docs);
    try {
      if (embedder) {
        const [q, ...d] = (await api.embed(embedder, [query, ...docs])).vectors;
        setByEmbedding(d.map((v, index) => ({ index, score: cosine(q!, v) })).sort((a, b) => b.score - a.score));
      } else setByEmbedding(null);
      if (reranker) {
        const results = await api.rerank(reranker, query, docs);
        setByReranker(results.map((r) => ({ index: r.index, score: r.relevance_score })));
      } else setByReranker(null);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const table = (label: string, rows: Ranked[] | null) =>
    rows && (
      <section className="card" aria-label={label}>
        <h3>{label}</h3>
        <ol className="ranked">
          {rows.map((r) => (
            <li key={r.index}>
              <span className="score">{num(r.score, 4)}</span> {texts[r.index]}
            </li>
          ))}
        </ol>
      </section>
    );

  return (
    <>
      <PageHeader title={t('retrieval.title')} subtitle={t('retrieval.subtitle')} />
      {ready.data && embedders.length + rerankers.length === 0 && (
        <div className="empty">
          <p>{t('retrieval.noModels')}</p>
          <Link className="btn btn-primary" href="/launch">
            {t('models.launchOne')}
          </Link>
        </div>
      )}
      <div className="card retrieval-form">
        <div className="grid-2">
          <Field label={t('retrieval.embedder')}>
            <ModelSelect models={embedders} value={embedder} onChange={setEmbedder} />
          </Field>
          <Field label={t('retrieval.reranker')}>
            <ModelSelect models={rerankers} value={reranker} onChange={setReranker} />
          </Field>
        </div>
        <Field label={t('retrieval.query')}>
          <input value={query} onChange={(e) => setQuery(e.target.value)} />
        </Field>
        <Field label={t('retrieval.passages')}>
          <textarea rows={5} value={passages} placeholder={t('retrieval.passagesPlaceholder')} onChange={(e) => setPassages(e.target.value)} />
        </Field>
        <button className="btn btn-primary" disabled={busy || (!embedder && !reranker)} onClick={() => void run()}>
          {t('retrieval.rank')}
        </button>
        <ErrorNote
          error={error}
          labels={{
            query: t('retrieval.query'),
            documents: t('retrieval.passages'),
            input: t('retrieval.passages'),
          }}
        />
      </div>
      {(byEmbedding || byReranker) && (
        <div className="retrieval-results">
          {table(t('retrieval.byEmbedding'), byEmbedding)}
          {table(t('retrieval.byReranker'), byReranker)}
        </div>
      )}
    </>
  );
}
