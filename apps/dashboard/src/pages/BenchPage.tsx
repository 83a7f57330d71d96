// Benchmark: runs the serving benchmark against a ready model from the page (POST /api/bench), shows
// its progress as it streams, and plots TTFT, TPOT and throughput of the chosen past runs side by side,
// each run named by the settings that differ between the runs compared.
import { useEffect, useState } from 'react';
import { api } from '../api/client.ts';
import { streamGet } from '../api/sse.ts';
import type { BenchRun, ModelView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { runLabels, type BenchSetting } from '../bench-labels.ts';
import { BarChart } from '../components/BarChart.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { Field } from '../components/Field.tsx';
import { ModelSelect } from '../components/ModelSelect.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { ProgressBar } from '../components/ProgressBar.tsx';
import { StackTable } from '../components/StackTable.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { useI18n } from '../i18n/index.tsx';

export function BenchPage() {
  const { t, num, date } = useI18n();
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
  const say = (setting: BenchSetting, v: string | number | null): string => {
    if (setting === 'model_uid') return String(v);
    if (setting === 'request_rate')
      return v === null ? t('bench.lbl.burst') : t('bench.lbl.rate', { n: num(Number(v), 2) });
    if (setting === 'max_concurrency')
      return v === null ? t('bench.lbl.noLimit') : t('bench.lbl.conc', { n: num(Number(v), 0) });
    const key = { num_prompts: 'bench.lbl.prompts', input_len: 'bench.lbl.in', output_len: 'bench.lbl.out' } as const;
    return t(key[setting], { n: num(Number(v), 0) });
  };
  const nth = (n: number) => t('bench.lbl.nth', { n });
  // Chart labels tell the compared runs apart; table labels the listed ones.
  const chartLabels = new Map(
    runLabels(compared, say, nth).map((l, i) => [compared[i]!.id, l] as const),
  );
  const label = (r: BenchRun) => chartLabels.get(r.id) ?? r.model_uid;
  const settings = (r: BenchRun) =>
    [
      say('num_prompts', r.params.num_prompts),
      say('input_len', r.params.input_len),
      say('output_len', r.params.output_len),
      say('request_rate', r.params.request_rate),
      say('max_concurrency', r.params.max_concurrency),
    ].join(' · ');
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
        <StackTable
          className="runs-table"
          columns={[
            t('bench.compare'),
            t('bench.runCol'),
            t('models.status'),
            t('bench.reqThroughput'),
            t('bench.throughput'),
            `${t('bench.ttft')} (${t('bench.mean')})`,
            `${t('bench.tpot')} (${t('bench.mean')})`,
            `${t('bench.e2el')} (${t('bench.p99')})`,
            t('bench.failed'),
          ]}
          action={t('common.delete')}
          rows={runs.data}
          empty={t('bench.empty')}
          row={(r) => (
            <tr key={r.id}>
              <td data-label={t('bench.compare')}>
                <input
                  type="checkbox"
                  aria-label={`${t('bench.compare')} ${r.model_uid} ${settings(r)}`}
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
              <td data-label={t('bench.runCol')} className="run-cell">
                <div>
                  <strong>{r.model_uid}</strong>
                  <span className="run-settings">{settings(r)}</span>
                  <span className="muted run-date">{date(r.started_at)}</span>
                </div>
              </td>
              <td data-label={t('models.status')}>
                <StatusBadge status={r.status} />
              </td>
              <td data-label={t('bench.reqThroughput')}>
                {r.summary ? num(r.summary.request_throughput, 2) : '–'}
              </td>
              <td data-label={t('bench.throughput')}>
                {r.summary ? num(r.summary.output_throughput, 1) : '–'}
              </td>
              <td data-label={`${t('bench.ttft')} (${t('bench.mean')})`}>
                {r.summary ? ms(r.summary.ttft_ms.mean) : '–'}
              </td>
              <td data-label={`${t('bench.tpot')} (${t('bench.mean')})`}>
                {r.summary ? ms(r.summary.tpot_ms.mean) : '–'}
              </td>
              <td data-label={`${t('bench.e2el')} (${t('bench.p99')})`}>
                {r.summary ? ms(r.summary.e2el_ms.p99) : '–'}
              </td>
              <td data-label={t('bench.failed')}>{r.summary ? num(r.summary.failed, 0) : '–'}</td>
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
          )}
        />
      </section>
    </>
  );
}
