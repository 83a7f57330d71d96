// Custom models: register a checkpoint from a folder on the server or a Hugging Face repository; the
// server checks it and each problem shows beside its field. Registered ones are listed below.
import { useState } from 'react';
import { api, ApiError } from '../api/client.ts';
import { usePoll } from '../api/use-poll.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { Field } from '../components/Field.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { useI18n } from '../i18n/index.tsx';
import { fieldErrorText, fieldLabel, fieldProblemText } from '../i18n/server-error.ts';
import { Link } from '../router.tsx';
import type { FieldProblemView, RegistrationRequest } from '@pagoda/protocol';

const FIELDS = [
  'model_name',
  'model_path',
  'hf_repo_id',
  'architecture',
  'context_length',
  'chat_template',
] as const;
type FormField = (typeof FIELDS)[number];

export function CustomPage() {
  const i18n = useI18n();
  const { t, num } = i18n;
  const list = usePoll(() => api.registrations().then((r) => r.filter((x) => !x.is_builtin)), 0);
  const [source, setSource] = useState<'path' | 'hf'>('path');
  const [form, setForm] = useState<Record<FormField, string>>({
    model_name: '',
    model_path: '',
    hf_repo_id: '',
    architecture: '',
    context_length: '',
    chat_template: '',
  });
  const [errors, setErrors] = useState<Partial<Record<FormField, string>>>({});
  const [general, setGeneral] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setBusy(true);
    setErrors({});
    setGeneral(null);
    setDone(null);
    const body: Record<string, unknown> = { model_name: form.model_name.trim() };
    if (source === 'path') body.model_path = form.model_path.trim() || undefined;
    else body.hf_repo_id = form.hf_repo_id.trim() || undefined;
    if (form.architecture.trim()) body.architecture = form.architecture.trim();
    if (form.context_length.trim()) body.context_length = Number(form.context_length);
    if (form.chat_template.trim()) body.chat_template = form.chat_template;
    try {
      // As typed: the server validates the registration and answers per field.
      const r = await api.register(body as RegistrationRequest);
      setDone(r.model_name);
      list.reload();
    } catch (err) {
      const byField: Partial<Record<FormField, string>> = {};
      const rest: string[] = [];
      for (const e of err instanceof ApiError ? err.fieldErrors : []) {
        // A refusal about the source lands beside whichever source field is shown.
        const f = (
          ['model_path', 'hf_repo_id'].includes(e.field)
            ? source === 'path'
              ? 'model_path'
              : 'hf_repo_id'
            : e.field
        ) as FormField;
        // Worded from the problem's kind and values, in the page's language (dash-chat).
        const view = e as FieldProblemView;
        const text =
          view.problem || view.issue
            ? fieldProblemText(i18n, view)
            : (fieldErrorText(i18n, err, e.field) ?? fieldProblemText(i18n, view));
        if (FIELDS.includes(f))
          byField[f] = byField[f] ? `${byField[f]}${t('plan.separator')}${text}` : text;
        else rest.push(t('issue.line', { field: fieldLabel(i18n, e.field), text }));
      }
      setErrors(byField);
      if (Object.keys(byField).length === 0) setGeneral(err);
      else if (rest.length > 0) setGeneral(rest.join(t('plan.separator')));
    } finally {
      setBusy(false);
    }
  };

  const input = (f: FormField, extra: Record<string, unknown> = {}) => (
    <input value={form[f]} onChange={(e) => setForm({ ...form, [f]: e.target.value })} {...extra} />
  );

  return (
    <>
      <PageHeader title={t('custom.title')} subtitle={t('custom.subtitle')} />
      <div className="two-col">
        <form
          className="card"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <Field
            label={t('custom.model_name')}
            hint={t('custom.model_name.hint')}
            error={errors.model_name}
          >
            {input('model_name', { required: true, autoComplete: 'off' })}
          </Field>
          <fieldset className="segmented">
            <legend>{t('custom.source')}</legend>
            <label>
              <input
                type="radio"
                name="source"
                checked={source === 'path'}
                onChange={() => setSource('path')}
              />
              <span>{t('custom.sourcePath')}</span>
            </label>
            <label>
              <input
                type="radio"
                name="source"
                checked={source === 'hf'}
                onChange={() => setSource('hf')}
              />
              <span>{t('custom.sourceHf')}</span>
            </label>
          </fieldset>
          {source === 'path' ? (
            <Field
              label={t('custom.model_path')}
              hint={t('custom.model_path.hint')}
              error={errors.model_path}
            >
              {input('model_path', { placeholder: '/models/my-llama' })}
            </Field>
          ) : (
            <Field
              label={t('custom.hf_repo_id')}
              hint={t('custom.hf_repo_id.hint')}
              error={errors.hf_repo_id}
            >
              {input('hf_repo_id', { placeholder: 'Qwen/Qwen2.5-0.5B-Instruct' })}
            </Field>
          )}
          <div className="grid-2">
            <Field
              label={t('custom.architecture')}
              hint={t('custom.architecture.hint')}
              error={errors.architecture}
            >
              {input('architecture', { placeholder: 'LlamaForCausalLM' })}
            </Field>
            <Field
              label={t('custom.context_length')}
              hint={t('custom.context_length.hint')}
              error={errors.context_length}
            >
              {input('context_length', { type: 'number', min: 1 })}
            </Field>
          </div>
          <Field
            label={t('custom.chat_template')}
            hint={t('custom.chat_template.hint')}
            error={errors.chat_template}
          >
            <textarea
              rows={4}
              value={form.chat_template}
              onChange={(e) => setForm({ ...form, chat_template: e.target.value })}
              spellCheck={false}
            />
          </Field>
          <ErrorNote error={general} />
          {done && (
            <p className="note note-ok" role="status">
              {t('custom.registered', { name: done })}{' '}
              <Link href={`/launch?model=${encodeURIComponent(done)}`}>{t('nav.launch')}</Link>
            </p>
          )}
          <div className="actions">
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {busy ? t('custom.registering') : t('custom.register')}
            </button>
          </div>
        </form>
        <section className="card" aria-labelledby="custom-list">
          <h2 id="custom-list">{t('custom.list')}</h2>
          <ErrorNote error={list.error} />
          {list.data?.length === 0 && <p className="muted">{t('custom.empty')}</p>}
          <ul className="rows">
            {(list.data ?? []).map((r) => (
              <li key={r.model_name}>
                <div>
                  <strong>{r.model_name}</strong>
                  <span className="muted">
                    {' '}
                    · {r.model_family} · {t('launch.context', { tokens: num(r.context_length, 0) })}
                  </span>
                </div>
                <div className="actions">
                  <Link
                    className="btn btn-small"
                    href={`/launch?model=${encodeURIComponent(r.model_name)}`}
                  >
                    {t('nav.launch')}
                  </Link>
                  <button
                    type="button"
                    className="btn btn-small btn-danger"
                    onClick={() =>
                      void api
                        .unregister(r.model_name)
                        .then(list.reload, (e: unknown) => setGeneral(e))
                    }
                  >
                    {t('custom.unregister')}
                  </button>
                </div>
              </li>
            ))}
          </ul>
        </section>
      </div>
    </>
  );
}
