// An error from the server, shown where the action happened, in the page's language (from the error's
// code and values); the server's own English message stays one click away for bug reports.
import { useI18n } from '../i18n/index.tsx';
import { serverError, translateError, type FieldLabels } from '../i18n/server-error.ts';
import './notes.css';

/** `labels`: what the page calls the fields an error may name (parameter → label). */
export function ErrorNote({ error, labels }: { error: unknown; labels?: FieldLabels }) {
  const i18n = useI18n();
  if (!error) return null;
  if (typeof error === 'string')
    return (
      <p className="note note-error" role="alert">
        {error}
      </p>
    );
  const text = translateError(i18n, error, labels);
  const original = serverError(error).message;
  return (
    <div className="note note-error" role="alert">
      <p>{text}</p>
      {original && original !== text && (
        <details className="server-text">
          <summary>{i18n.t('error.serverText')}</summary>
          <code lang="en">{original}</code>
        </details>
      )}
    </div>
  );
}
