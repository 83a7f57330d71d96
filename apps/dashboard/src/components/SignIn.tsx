// The sign-in prompt shown in place of a page once the server answers 401: a key typed here is kept in
// this browser (as on the API keys page) and checked before the page comes back.
import { useState } from 'react';
import { api, apiKey } from '../api/client.ts';
import { clearAuthNeed, useAuthNeed } from '../api/auth-state.ts';
import { useI18n } from '../i18n/index.tsx';
import { serverError } from '../i18n/server-error.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { Field } from './Field.tsx';

export function SignIn() {
  const { t } = useI18n();
  const need = useAuthNeed();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [rejected, setRejected] = useState(need === 'invalid');
  const [error, setError] = useState<unknown>(null);

  const submit = async () => {
    const k = key.trim();
    if (!k) return;
    setBusy(true);
    setError(null);
    apiKey.set(k);
    try {
      // Any key may list the ready models: it proves the key without needing admin rights.
      await api.listModels({ all: false });
      clearAuthNeed();
    } catch (err) {
      apiKey.set(null);
      if (serverError(err).status === 401) setRejected(true);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="signin card" aria-labelledby="signin-title">
      <h1 id="signin-title">{t('signin.title')}</h1>
      <p>{t('signin.text')}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <Field label={t('signin.key')} error={rejected ? t('signin.invalid') : null}>
          <input
            type="password"
            autoComplete="off"
            autoFocus
            value={key}
            onChange={(e) => {
              setKey(e.target.value);
              setRejected(false);
            }}
          />
        </Field>
        <ErrorNote error={error} />
        <div className="actions">
          <button type="submit" className="btn btn-primary" disabled={busy || !key.trim()}>
            {t('signin.submit')}
          </button>
        </div>
      </form>
    </section>
  );
}
