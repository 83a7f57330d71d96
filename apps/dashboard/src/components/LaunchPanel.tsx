// The launch form of one model: every engine parameter with what it costs, the memory plan redrawn
// as fields change (POST /api/plan, debounced), "Copy as CLI", and the launch itself (off while the
// plan says it will not fit). With GPUs per replica on auto, the tensor-parallel size the plan
// suggests is taken.
import { useEffect, useMemo, useState } from 'react';
import { api, ApiError } from '../api/client.ts';
import type { LaunchRequest, PlanResponse, WorkerView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { useI18n } from '../i18n/index.tsx';
import { fieldErrorText } from '../i18n/server-error.ts';
import { defaultForm, launchBody, launchCli, launchCliParts, type LaunchForm } from '../launch.ts';
import type { CatalogEntry } from '../api/catalog.ts';
import { navigate } from '../router.tsx';
import { ErrorNote } from './ErrorNote.tsx';
import { Field } from './Field.tsx';
import { PlanView } from './PlanView.tsx';

export function LaunchPanel({ entry, onClose }: { entry: CatalogEntry; onClose(): void }) {
  const i18n = useI18n();
  const { t } = i18n;
  const name = entry.family.model_name;
  const [form, setForm] = useState<LaunchForm>(defaultForm);
  const [plan, setPlan] = useState<PlanResponse | null>(null);
  const [planError, setPlanError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [launchError, setLaunchError] = useState<ApiError | null>(null);
  const [copied, setCopied] = useState(false);
  const workers = usePoll<WorkerView[]>(() => api.workers(), 0);

  const engines = Object.keys(entry.engines);
  const specs = entry.engines[form.model_engine] ?? [];
  const formats = [...new Set(specs.map((s) => s.model_format))];
  const sizes = [
    ...new Set(
      specs
        .filter((s) => !form.model_format || s.model_format === form.model_format)
        .map((s) => s.model_size_in_billions),
    ),
  ];
  const quants = [
    ...new Set(
      specs
        .filter(
          (s) =>
            (!form.model_format || s.model_format === form.model_format) &&
            (!form.model_size_in_billions ||
              String(s.model_size_in_billions) === form.model_size_in_billions),
        )
        .flatMap((s) => s.quantizations),
    ),
  ];

  // The form's text goes as typed (numbers where they parse): the server validates it and names the field.
  const typed = useMemo(() => launchBody(name, form), [name, form]);
  const typedKey = JSON.stringify(typed);
  // GPUs per replica and tensor parallel both on auto: when the plan says it fits only spread over more
  // GPUs, that size is taken (for these settings only: any change plans from scratch).
  const tpIsAuto = form.n_gpu.trim() === 'auto' && form.tensor_parallel_size.trim() === '';
  const [autoTp, setAutoTp] = useState<{ key: string; tp: number } | null>(null);
  const chosenTp = tpIsAuto && autoTp?.key === typedKey ? autoTp.tp : null;
  const body = useMemo(
    () => (chosenTp === null ? typed : { ...typed, tensor_parallel_size: chosenTp }),
    [typed, chosenTp],
  );
  const set = <K extends keyof LaunchForm>(key: K, value: LaunchForm[K]) =>
    setForm((f) => ({ ...f, [key]: value }));

  useEffect(() => {
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      api
        .plan(body as LaunchRequest, ctl.signal)
        .then((p) => {
          setPlan(p);
          setPlanError(null);
          const tp = p.plan?.suggestions.find((x) => x.setting === 'tensor_parallel_size');
          if (!p.fits && tp && tpIsAuto && chosenTp === null) setAutoTp({ key: typedKey, tp: tp.value });
        })
        .catch((err: Error) => {
          if (ctl.signal.aborted) return;
          setPlan(null);
          setPlanError(err instanceof ApiError ? err : new ApiError(0, err.message, null, null));
        });
    }, 250);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [body]); // tpIsAuto, chosenTp and typedKey follow body

  // In the page's language, from the error's code and values (dash-chat: server errors translated).
  const errorFor = (field: string) =>
    fieldErrorText(i18n, planError, field) ?? fieldErrorText(i18n, launchError, field);

  // The plan for exactly these settings says no: launching would only be refused.
  const noFit = plan !== null && !plan.fits && !planError;
  const launch = async () => {
    if (noFit) return;
    setBusy(true);
    setLaunchError(null);
    try {
      const r = await api.launch(body as LaunchRequest);
      navigate(`/models?launched=${encodeURIComponent(r.model_uid)}`);
    } catch (err) {
      setLaunchError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  const copy = async () => {
    const text = launchCli(
      body,
      location.origin === 'http://127.0.0.1:9997' ? undefined : location.origin,
    );
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard refused (insecure origin): the command is shown below for manual copying.
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };

  const text = (
    key: keyof LaunchForm,
    placeholder?: string,
    type = 'text',
    extra: Record<string, unknown> = {},
  ) => (
    <input
      type={type}
      value={String(form[key])}
      placeholder={placeholder}
      onChange={(e) => set(key, e.target.value as never)}
      {...extra}
    />
  );
  const choice = (key: keyof LaunchForm, values: Array<string | number>, auto = true) => (
    <select value={String(form[key])} onChange={(e) => set(key, e.target.value as never)}>
      {auto && <option value="">{t('common.auto')}</option>}
      {values.map((v) => (
        <option key={v} value={String(v)}>
          {String(v)}
        </option>
      ))}
    </select>
  );
  const check = (key: 'enforce_eager' | 'enable_prefix_caching') => (
    <input type="checkbox" checked={form[key]} onChange={(e) => set(key, e.target.checked)} />
  );

  return (
    <section className="panel launch-panel" aria-labelledby="launch-title">
      <header className="panel-head">
        <h2 id="launch-title">{t('launch.formTitle', { name })}</h2>
        <button type="button" className="btn btn-ghost" onClick={onClose}>
          {t('common.close')}
        </button>
      </header>
      <div className="launch-grid">
        <form
          id="launch-form"
          className="launch-form"
          onSubmit={(e) => {
            e.preventDefault();
            void launch();
          }}
        >
          <fieldset>
            <legend>{t('launch.sectionModel')}</legend>
            <Field
              label={t('field.model_uid')}
              hint={t('field.model_uid.hint')}
              error={errorFor('model_uid')}
            >
              {text('model_uid', name)}
            </Field>
            <Field
              label={t('field.model_engine')}
              hint={t('field.model_engine.hint')}
              error={errorFor('model_engine')}
            >
              {choice('model_engine', engines, false)}
            </Field>
            <Field
              label={t('field.model_format')}
              hint={t('field.model_format.hint')}
              error={errorFor('model_format')}
            >
              {choice('model_format', formats)}
            </Field>
            <Field
              label={t('field.model_size_in_billions')}
              hint={t('field.model_size_in_billions.hint')}
              error={errorFor('model_size_in_billions')}
            >
              {choice('model_size_in_billions', sizes)}
            </Field>
            <Field
              label={t('field.quantization')}
              hint={t('field.quantization.hint')}
              error={errorFor('quantization')}
            >
              {choice('quantization', quants)}
            </Field>
          </fieldset>
          <fieldset>
            <legend>{t('launch.sectionPlacement')}</legend>
            <Field
              label={t('field.replica')}
              hint={t('field.replica.hint')}
              error={errorFor('replica')}
            >
              {text('replica', '1', 'number', { min: 1, max: 64 })}
            </Field>
            <Field
              label={t('field.n_gpu')}
              hint={chosenTp === null ? t('field.n_gpu.hint') : t('launch.autoGpus', { n: chosenTp })}
              error={errorFor('n_gpu')}
            >
              {text('n_gpu', 'auto')}
            </Field>
            <Field
              label={t('field.worker_ip')}
              hint={t('field.worker_ip.hint')}
              error={errorFor('worker_ip')}
            >
              <select value={form.worker_ip} onChange={(e) => set('worker_ip', e.target.value)}>
                <option value="">{t('launch.any')}</option>
                {(workers.data ?? []).map((w) => (
                  <option key={w.worker} value={w.address}>
                    {w.worker} ({w.address})
                  </option>
                ))}
              </select>
            </Field>
            <Field
              label={t('field.gpu_idx')}
              hint={t('field.gpu_idx.hint')}
              error={errorFor('gpu_idx')}
            >
              {text('gpu_idx', '0,1')}
            </Field>
          </fieldset>
          <fieldset>
            <legend>{t('launch.sectionEngine')}</legend>
            <Field
              label={t('field.tensor_parallel_size')}
              hint={t('field.tensor_parallel_size.hint')}
              error={errorFor('tensor_parallel_size')}
            >
              {text(
                'tensor_parallel_size',
                chosenTp === null ? t('common.auto') : `${t('common.auto')}: ${chosenTp}`,
                'number',
                { min: 1 },
              )}
            </Field>
            <Field
              label={t('field.gpu_memory_utilization')}
              hint={t('field.gpu_memory_utilization.hint')}
              error={errorFor('gpu_memory_utilization')}
            >
              {text('gpu_memory_utilization', '0.9', 'number', { min: 0.05, max: 1, step: 0.05 })}
            </Field>
            <Field
              label={t('field.max_model_len')}
              hint={t('field.max_model_len.hint')}
              error={errorFor('max_model_len')}
            >
              {text('max_model_len', t('field.placeholderDefault'), 'number', { min: 1 })}
            </Field>
            <Field
              label={t('field.max_num_seqs')}
              hint={t('field.max_num_seqs.hint')}
              error={errorFor('max_num_seqs')}
            >
              {text('max_num_seqs', t('field.placeholderDefault'), 'number', { min: 1 })}
            </Field>
            <Field label={t('field.enforce_eager')} hint={t('field.enforce_eager.hint')} inline>
              {check('enforce_eager')}
            </Field>
            <Field
              label={t('field.enable_prefix_caching')}
              hint={t('field.enable_prefix_caching.hint')}
              inline
            >
              {check('enable_prefix_caching')}
            </Field>
          </fieldset>
        </form>
        <PlanView
          plan={plan}
          error={planError}
          onApply={(setting, value) => set(setting as keyof LaunchForm, String(value) as never)}
        />
        {/* After the plan in the page's order, so on a phone the plan is read before Launch. */}
        <div className="launch-actions">
          <ErrorNote
            error={
              launchError &&
              !['model_uid', 'replica', 'max_model_len'].includes(launchError.param ?? '')
                ? launchError
                : null
            }
          />
          {noFit && (
            <p className="note note-warn" id="launch-blocked">
              {t('launch.blockedNoFit')}
            </p>
          )}
          <div className="actions">
            <button
              type="submit"
              form="launch-form"
              className="btn btn-primary"
              disabled={busy || noFit}
              aria-describedby={noFit ? 'launch-blocked' : undefined}
            >
              {busy ? t('launch.submitting') : t('launch.submit')}
            </button>
            <button type="button" className="btn" onClick={() => void copy()}>
              {copied ? t('common.copied') : t('launch.copyCli')}
            </button>
          </div>
          <pre className="cli" aria-label={t('launch.copyCli')}>
            <code>
              {launchCliParts(body).map((part, i) => (
                <span key={i}>
                  {i > 0 && ' '}
                  <span className="cli-part">{part}</span>
                </span>
              ))}
            </code>
          </pre>
        </div>
      </div>
    </section>
  );
}
