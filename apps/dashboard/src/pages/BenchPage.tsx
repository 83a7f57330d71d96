// Benchmark: runs the serving benchmark against a ready model from the page (POST /api/bench), shows
// its progress as it streams, and plots TTFT, TPOT and throughput of the chosen past runs side by side.
import { useEffect, useState } from 'react';
import { api } from '../api/client.ts';
import { streamGet } from '../api/sse.ts';
import type { BenchRun, ModelView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { BarChart } from '../components/BarChart.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { Field } from '../components/Field.tsx';
import { ModelSelect } from '../components/ModelSelect.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { ProgressBar } from '../components/ProgressBar.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { useI18n } from '../i18n/index.tsx';

export function BenchPage() {
  const { t, num, date, time } = useI18n();
  const ready = usePoll<ModelView[]>(() => api.listModels({ all: false }), 5000);
  const runs = usePoll<BenchRun[]>(() => api.benchRuns(), 0);
  const [model, setModel] = useState('');
  const [form, setForm] = useState({
    num_prompts: '10',
    input_len: '32',
    output_len: '16',
    request_rate: '',
    max_concurrency: '4',
  });
  const [current, setCurrent] = useState<BenchRun | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [error, setError] = useState<Error | null>(null);

  const models = ready.data ?? [];
  useEffect(() => {
    if (models.length > 0 && !models.some((m) => m.model_uid === model))
      setModel(models[0]!.model_uid);
  }, [models, model]);
  // Newly finished runs are compared by default with the latest few.
  useEffect(() => {
    if (runs.data && selected.size === 0)
      setSelected(
        new Set(
          runs.data
            .filter((r) => r.summary)
            .slice(0, 4)
            .map((r) => r.id),
        ),
      );
  }, [runs.data]);

  const start = async () => {
    setError(null);
    const n = (s: string) => (s.trim() === '' ? null : Number(s));
    try {
      const run = await api.startBench({
        model_uid: model,
        num_prompts: n(form.num_prompts) ?? 10,
        input_len: n(form.input_len) ?? 32,
        output_len: n(form.output_len) ?? 16,
        request_rate: n(form.request_rate),
        max_concurrency: n(form.max_concurrency),
      });
      setCurrent(run);
      for await (const update of streamGet(`/api/bench/${encodeURIComponent(run.id)}/stream`))
        setCurrent(update as BenchRun);
      const final = (await api.benchRuns()).find((r) => r.id === run.id);
      if (final?.status === 'failed') setError(new Error(final.error ?? 'failed'));
      setSelected((s) => new Set([run.id, ...s]));
      runs.reload();
    } catch (err) {
      setError(err as Error);
    } finally {
      setCurrent(null);
    }
  };

  const compared = (runs.data ?? []).filter((r) => r.summary && selected.has(r.id)).reverse();
  const label = (r: BenchRun) => `${r.model_uid} · ${time(r.started_at)}`;
  const input = (key: keyof typeof form, extra: Record<string, unknown> = {}) => (
    <input
      type="number"
      value={form[key]}
      onChange={(e) => setForm({ ...form, [key]: e.target.value })}
      {...extra}
    />
  );
  // Sub-millisecond figures (a tiny model's TPOT) keep enough digits to tell runs apart.
  const ms = (v: number) => `${num(v, v < 1 ? 3 : v < 10 ? 2 : 1)} ${t('bench.ms')}`;

  return (
    <>
      <PageHeader title={t('bench.title')} subtitle={t('bench.subtitle')} />
      {ready.data && models.length === 0 && <p className="empty">{t('chat.noModels')}</p>}
      <form
        className="card bench-form"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <Field label={t('bench.model')}>
          <ModelSelect models={models} value={model} onChange={setModel} />
        </Field>
        <Field label={t('bench.numPrompts')} hint={t('bench.numPrompts.hint')}>
          {input('num_prompts', { min: 1, max: 5000 })}
        </Field>
        <Field label={t('bench.inputLen')} hint={t('bench.inputLen.hint')}>
          {input('input_len', { min: 1 })}
        </Field>
        <Field label={t('bench.outputLen')} hint={t('bench.outputLen.hint')}>
          {input('output_len', { min: 1 })}
        </Field>
        <Field label={t('bench.rate')} hint={t('bench.rate.hint')}>
          {input('request_rate', { min: 0.01, step: 'any', placeholder: t('bench.unlimited') })}
        </Field>
        <Field label={t('bench.concurrency')} hint={t('bench.concurrency.hint')}>
          {input('max_concurrency', { min: 1, placeholder: t('bench.unlimited') })}
        </Field>
        <div className="actions">
          <button type="submit" className="btn btn-primary" disabled={!model || current !== null}>
            {t('bench.run')}
          </button>
        </div>
        {current && (
          <ProgressBar
            value={current.total ? current.done / current.total : 0}
            label={t('bench.running', { done: num(current.done, 0), total: num(current.total, 0) })}
          />
        )}
        <ErrorNote error={error} />
      </form>

      {compared.length > 0 && (
        <section className="charts" aria-label={t('bench.compare')}>
          <div className="card">
            <BarChart
              title={t('bench.chartTtft')}
              measures={[t('bench.mean'), t('bench.p99')]}
              groups={compared.map((r) => ({
                label: label(r),
                values: [r.summary!.ttft_ms.mean, r.summary!.ttft_ms.p99],
              }))}
              format={ms}
            />
          </div>
          <div className="card">
            <BarChart
              title={t('bench.chartTpot')}
              measures={[t('bench.mean'), t('bench.p99')]}
              groups={compared.map((r) => ({
                label: label(r),
                values: [r.summary!.tpot_ms.mean, r.summary!.tpot_ms.p99],
              }))}
              format={ms}
            />
          </div>
          <div className="card">
            <BarChart
              title={t('bench.chartThroughput')}
              measures={[t('bench.throughput')]}
              groups={compared.map((r) => ({
                label: label(r),
                values: [r.summary!.output_throughput],
              }))}
              format={(v) => num(v, 1)}
            />
          </div>
        </section>
      )}

      <section className="card" aria-labelledby="bench-history">
        <h2 id="bench-history">{t('bench.history')}</h2>
        <p className="muted">{t('bench.selectHint')}</p>
        <ErrorNote error={runs.error} />
        {runs.data?.length === 0 && <p className="muted">{t('bench.empty')}</p>}
        {runs.data && runs.data.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('bench.compare')}</th>
                  <th scope="col">{t('bench.date')}</th>
                  <th scope="col">{t('bench.model')}</th>
                  <th scope="col">{t('models.status')}</th>
                  <th scope="col">{t('bench.requests')}</th>
                  <th scope="col">{t('bench.reqThroughput')}</th>
                  <th scope="col">{t('bench.throughput')}</th>
                  <th scope="col">{`${t('bench.ttft')} (${t('bench.mean')})`}</th>
                  <th scope="col">{`${t('bench.tpot')} (${t('bench.mean')})`}</th>
                  <th scope="col">{`${t('bench.e2el')} (${t('bench.p99')})`}</th>
                  <th scope="col">{t('bench.failed')}</th>
                  <th scope="col">
                    <span className="sr-only">{t('common.delete')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {runs.data.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`${t('bench.compare')} ${label(r)}`}
                        disabled={!r.summary}
                        checked={selected.has(r.id)}
                        onChange={(e) => {
                          const next = new Set(selected);
                          if (e.target.checked) next.add(r.id);
                          else next.delete(r.id);
                          setSelected(next);
                        }}
                      />
                    </td>
                    <td>{date(r.started_at)}</td>
                    <td>{r.model_uid}</td>
                    <td>
                      <StatusBadge status={r.status} />
                    </td>
                    <td>
                      {num(r.params.num_prompts, 0)} × {num(r.params.input_len, 0)}/
                      {num(r.params.output_len, 0)}
                    </td>
                    <td>{r.summary ? num(r.summary.request_throughput, 2) : '–'}</td>
                    <td>{r.summary ? num(r.summary.output_throughput, 1) : '–'}</td>
                    <td>{r.summary ? ms(r.summary.ttft_ms.mean) : '–'}</td>
                    <td>{r.summary ? ms(r.summary.tpot_ms.mean) : '–'}</td>
                    <td>{r.summary ? ms(r.summary.e2el_ms.p99) : '–'}</td>
                    <td>{r.summary ? num(r.summary.failed, 0) : '–'}</td>
                    <td>
                      {r.status !== 'running' && (
                        <button
                          type="button"
                          className="btn btn-small btn-ghost"
                          onClick={() =>
                            void api.deleteBench(r.id).then(runs.reload, (e: Error) => setError(e))
                          }
                        >
                          {t('common.delete')}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
