// How to call a ready model: its OpenAI-compatible endpoint, and a first call in curl, Python or
// JavaScript (one shown at a time), each with a copy button.
import { useState } from 'react';
import type { ModelType } from '@pagoda/protocol';
import { useI18n } from '../i18n/index.tsx';
import { SNIPPET_LANGUAGES, snippet, type SnippetLanguage } from '../snippets.ts';

/** Names of tools and languages: the same in every locale. */
const LABEL: Record<SnippetLanguage, string> = { curl: 'curl', python: 'Python', javascript: 'JavaScript' };

export function CallSnippet({ uid, type }: { uid: string; type: ModelType }) {
  const { t } = useI18n();
  const [lang, setLang] = useState<SnippetLanguage>('curl');
  const [copied, setCopied] = useState(false);
  const base = `${location.origin}/v1`;
  const code = snippet(lang, type, uid, base);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(code);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // Clipboard refused (insecure origin): the code is shown for manual copying.
    }
  };
  return (
    <section className="call" aria-label={t('models.callTitle')}>
      <h3>{t('models.callTitle')}</h3>
      <p className="call-endpoint">
        <span className="muted">{t('models.endpoint')}</span> <code>{base}</code>{' '}
        <span className="muted">·</span> <code>{`"model": ${JSON.stringify(uid)}`}</code>
      </p>
      <div className="call-bar">
        <div className="segmented" role="radiogroup" aria-label={t('models.snippetLanguage')}>
          {SNIPPET_LANGUAGES.map((l) => (
            <label key={l}>
              <input
                type="radio"
                name={`snippet-${uid}`}
                value={l}
                checked={lang === l}
                onChange={() => setLang(l)}
              />
              {LABEL[l]}
            </label>
          ))}
        </div>
        <button type="button" className="btn btn-small" onClick={() => void copy()}>
          {copied ? t('common.copied') : t('models.copySnippet')}
        </button>
      </div>
      <pre className="pre snippet" data-testid="snippet" tabIndex={0}>
        <code>{code}</code>
      </pre>
    </section>
  );
}
