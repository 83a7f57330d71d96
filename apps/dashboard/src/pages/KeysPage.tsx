// API keys: the key this browser sends, and (for admins) creating, listing and revoking keys. With no
// key anywhere every route is open; the first key is an admin key (the server refuses any other first),
// remembered so the page keeps working, and shown once with a copy button.
import { useState } from 'react';
import { api, apiKey, ApiError } from '../api/client.ts';
import type { ApiKeyView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { CopyButton } from '../components/CopyButton.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { Field } from '../components/Field.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { StackTable } from '../components/StackTable.tsx';
import { useI18n } from '../i18n/index.tsx';
import { fieldErrorText } from '../i18n/server-error.ts';

export function KeysPage() {
  const i18n = useI18n();
  const { t, date } = i18n;
  const keys = usePoll<ApiKeyView[]>(() => api.keys(), 0);
  const [mine, setMine] = useState(apiKey.get() ?? '');
  const [saved, setSaved] = useState(false);
  // scope null: not chosen yet, so the first key is an admin key and later ones inference keys.
  const [form, setForm] = useState<{
    name: string;
    scope: ApiKeyView['scope'] | null;
    models: string;
  }>({ name: '', scope: null, models: '' });
  const first = keys.data !== null && keys.data.length === 0;
  const scope: ApiKeyView['scope'] =
    form.scope ?? (first || keys.data === null ? 'admin' : 'inference');
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  // A refused revoke is about the list, not the create form's fields.
  const [revokeError, setRevokeError] = useState<unknown>(null);
  const open = keys.data !== null && keys.data.length === 0 && !apiKey.get();

  const create = async () => {
    setError(null);
    setCreated(null);
    const models = form.models
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    try {
      const r = await api.createKey({
        name: form.name.trim(),
        scope,
        ...(models.length > 0 ? { models } : {}),
      });
      // The first admin key turns authentication on: keep it, or this browser would lock itself out.
      if (r.scope === 'admin' && !apiKey.get()) {
        apiKey.set(r.key);
        setMine(r.key);
      }
      setCreated(r.key);
      setForm({ name: '', scope: null, models: '' });
      keys.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };

  return (
    <>
      <PageHeader title={t('keys.title')} subtitle={t('keys.subtitle')} />
      <div className="two-col">
        <form
          className="card"
          onSubmit={(e) => {
            e.preventDefault();
            apiKey.set(mine.trim() || null);
            setSaved(true);
            keys.reload();
          }}
        >
          <Field label={t('keys.signin')} hint={t('keys.signin.hint')}>
            <input
              type="password"
              autoComplete="off"
              value={mine}
              onChange={(e) => {
                setMine(e.target.value);
                setSaved(false);
              }}
            />
          </Field>
          <div className="actions">
            <button type="submit" className="btn btn-primary">
              {t('keys.save')}
            </button>
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => {
                apiKey.set(null);
                setMine('');
                keys.reload();
              }}
            >
              {t('keys.forget')}
            </button>
          </div>
          {saved && (
            <p className="note note-ok" role="status">
              {t('keys.saved')}
            </p>
          )}
          <p className={`note ${open ? 'note-warn' : 'note-ok'}`}>
            {open ? t('keys.open') : t('keys.on')}
          </p>
        </form>
        <form
          className="card"
          onSubmit={(e) => {
            e.preventDefault();
            void create();
          }}
        >
          <h2>{t('keys.create')}</h2>
          <Field label={t('keys.name')} error={fieldErrorText(i18n, error, 'name')}>
            <input
              value={form.name}
              onChange={(e) => setForm({ ...form, name: e.target.value })}
              autoComplete="off"
            />
          </Field>
          <Field
            label={t('keys.scope')}
            hint={first ? t('keys.firstAdmin') : undefined}
            error={fieldErrorText(i18n, error, 'scope')}
          >
            <select
              value={scope}
              onChange={(e) => setForm({ ...form, scope: e.target.value as ApiKeyView['scope'] })}
            >
              <option value="inference">{t('keys.scopeInference')}</option>
              <option value="admin">{t('keys.scopeAdmin')}</option>
            </select>
          </Field>
          <Field
            label={t('keys.models')}
            hint={t('keys.models.hint')}
            error={fieldErrorText(i18n, error, 'models')}
          >
            <input
              value={form.models}
              onChange={(e) => setForm({ ...form, models: e.target.value })}
              disabled={scope === 'admin'}
            />
          </Field>
          <ErrorNote
            error={
              error &&
              !['name', 'scope'].includes(error.param ?? '') &&
              !error.param?.startsWith('models')
                ? error
                : null
            }
          />
          {created && (
            <div className="note note-ok" role="status">
              <p>{t('keys.created')}</p>
              <div className="secret-row">
                <code className="secret" data-testid="new-key">
                  {created}
                </code>
                <CopyButton text={created} label={t('keys.copy')} />
              </div>
            </div>
          )}
          <div className="actions">
            <button type="submit" className="btn btn-primary">
              {t('keys.create')}
            </button>
          </div>
        </form>
      </div>
      <section className="card" aria-labelledby="keys-list">
        <h2 id="keys-list">{t('keys.list')}</h2>
        <ErrorNote error={keys.error ?? revokeError} />
        <StackTable
          columns={[
            t('keys.name'),
            t('keys.scope'),
            t('keys.prefix'),
            t('keys.models'),
            t('keys.createdAt'),
          ]}
          action={t('keys.revoke')}
          rows={keys.data}
          empty={t('keys.empty')}
          row={(k) => (
            <tr key={k.name}>
              <td data-label={t('keys.name')}>{k.name}</td>
              <td data-label={t('keys.scope')}>{k.scope === 'admin' ? t('keys.scopeAdmin') : t('keys.scopeInference')}</td>
              <td data-label={t('keys.prefix')}>
                <code>{k.prefix}…</code>
              </td>
              <td data-label={t('keys.models')}>{k.models?.join(', ') ?? t('common.all')}</td>
              <td data-label={t('keys.createdAt')}>{date(k.created_at)}</td>
              <td>
                <button
                  type="button"
                  className="btn btn-small btn-danger"
                  onClick={() =>
                    confirm(t('keys.confirmRevoke', { name: k.name })) &&
                    void api.revokeKey(k.name).then(
                      () => {
                        setRevokeError(null);
                        keys.reload();
                      },
                      (e: unknown) => setRevokeError(e),
                    )
                  }
                >
                  {t('keys.revoke')}
                </button>
              </td>
            </tr>
          )}
        />
      </section>
    </>
  );
}
