// One launched model: status, start progress with its phase, live load, replicas and their GPUs,
// how to call it (endpoint and snippets), logs as time / level / message, and the actions (scale,
// cancel a launch, retry a failed one, terminate, open in chat).
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client.ts';
import type { ModelView } from '@pagoda/protocol';
import { useI18n, type Translate } from '../i18n/index.tsx';
import { parseLogLine } from '../log-lines.ts';
import { Link } from '../router.tsx';
import { CallSnippet } from './CallSnippet.tsx';
import { ErrorNote } from './ErrorNote.tsx';
import { ProgressBar } from './ProgressBar.tsx';
import { StackTable } from './StackTable.tsx';
import { StatusBadge } from './StatusBadge.tsx';

export interface LiveLoad {
  tokensPerSecond: number | null;
  kvCache: number | null;
  running: number;
  waiting: number;
}

const LAUNCHING = ['pending', 'launching'];

/** The worker's phase words in the reader's language: download N%, loading, warm-up. */
function phaseText(phase: string | null | undefined, t: Translate): string {
  if (!phase) return t('models.progress');
  const download = /^download (\d+)%$/.exec(phase);
  if (download) return `${t('models.phase.download')} ${download[1]}%`;
  if (phase === 'download') return t('models.phase.download');
  if (phase === 'loading' || phase === 'starting') return t('models.phase.load');
  if (phase === 'warm-up') return t('models.phase.warmup');
  return t('models.progress');
}

export function ModelPanel({
  model: m,
  phases,
  logs,
  load,
  onChanged,
}: {
  model: ModelView;
  phases: Record<string, string | null>;
  logs: Array<{ replica: number; line: string }>;
  load: LiveLoad | null;
  onChanged(): void;
}) {
  const { t, num, pct, bytes, date, clock } = useI18n();
  const [scaleTo, setScaleTo] = useState(String(m.replica));
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  // The log box follows new lines while the reader is at its end; scrolled up, it stays put.
  const logBox = useRef<HTMLOListElement>(null);
  const followLogs = useRef(true);
  const toEnd = () => {
    const el = logBox.current;
    if (el && followLogs.current) el.scrollTop = el.scrollHeight;
  };
  useEffect(toEnd, [logs.length]);
  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      onChanged();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const launching =
    LAUNCHING.includes(m.status) ||
    m.replicas.some((r) => r.status !== 'ready' && r.status !== 'failed');
  const progress =
    m.replicas.length === 0
      ? 0
      : m.replicas.reduce((s, r) => s + (r.status === 'ready' ? 1 : r.progress), 0) /
        Math.max(m.replica, 1);
  const firstBusy = m.replicas.find((r) => r.status !== 'ready');
  const ready = m.status === 'ready' || m.status === 'degraded';

  return (
    <article className="card model-panel" aria-labelledby={`m-${m.model_uid}`}>
      <header className="model-head">
        <div>
          <h2 id={`m-${m.model_uid}`}>{m.model_uid}</h2>
          <p className="muted">
            {m.model_name} · {t('models.engine')} {m.model_engine}
            {m.model_format ? ` · ${m.model_format}` : ''} ·{' '}
            {t('models.created', { date: date(m.created_at) })}
          </p>
        </div>
        <StatusBadge status={m.status} />
      </header>
      {launching && m.status !== 'failed' && (
        <ProgressBar
          value={Math.min(1, progress)}
          label={phaseText(firstBusy ? phases[firstBusy.replica_id] : null, t)}
        />
      )}
      {m.last_error && <pre className="note note-error pre">{m.last_error}</pre>}

      <dl className="stats">
        <div>
          <dt>{t('models.tokensPerSecond')}</dt>
          <dd>{load?.tokensPerSecond == null ? '–' : num(load.tokensPerSecond, 1)}</dd>
        </div>
        <div>
          <dt>{t('models.kvCache')}</dt>
          <dd>{load?.kvCache == null ? '–' : pct(load.kvCache)}</dd>
        </div>
        <div>
          <dt>{t('models.running')}</dt>
          <dd>{load ? num(load.running, 0) : '–'}</dd>
        </div>
        <div>
          <dt>{t('models.waiting')}</dt>
          <dd>{load ? num(load.waiting, 0) : '–'}</dd>
        </div>
      </dl>

      <StackTable
        caption={t('models.replicas')}
        columns={[
          t('models.replica'),
          t('models.worker'),
          t('models.gpus'),
          t('models.memory'),
          t('models.status'),
          t('models.restarts'),
        ]}
        rows={m.replicas}
        row={(r) => (
          <tr key={r.replica_id}>
            <td data-label={t('models.replica')}>#{r.index + 1}</td>
            <td data-label={t('models.worker')}>{r.worker ?? '–'}</td>
            <td data-label={t('models.gpus')}>
              {r.gpu_idx.length > 0
                ? t('common.gpu', { index: r.gpu_idx.join(', ') })
                : t('common.cpu')}
            </td>
            <td data-label={t('models.memory')}>
              {r.memory_bytes_per_gpu > 0 ? bytes(r.memory_bytes_per_gpu) : '–'}
            </td>
            <td data-label={t('models.status')}>
              <StatusBadge status={r.status} />
              {r.status !== 'ready' && r.status !== 'failed' ? ` ${pct(r.progress)}` : ''}
            </td>
            <td data-label={t('models.restarts')}>{num(r.restarts, 0)}</td>
          </tr>
        )}
      />

      {ready && <CallSnippet uid={m.model_uid} type={m.model_type} />}

      <details className="logs" onToggle={toEnd}>
        <summary>
          {t('models.logs')} ({num(logs.length, 0)})
        </summary>
        {logs.length === 0 ? (
          <p className="muted">{t('models.noLogs')}</p>
        ) : (
          <ol
            className="log-lines"
            ref={logBox}
            tabIndex={0}
            aria-label={t('models.logs')}
            onScroll={(e) => {
              const el = e.currentTarget;
              followLogs.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
            }}
          >
            {logs.map(({ replica, line }, i) => {
              const e = parseLogLine(line);
              return (
                <li key={i} className={e.level ? `log-${e.level}` : undefined}>
                  <time className="log-time">{e.time === null ? '' : clock(e.time)}</time>
                  <span className="log-level">{e.level ? e.level.toUpperCase() : ''}</span>
                  <span className="log-msg">
                    {m.replica > 1 && <span className="muted">#{replica + 1} </span>}
                    {e.message}
                    {e.extra && <span className="muted"> {e.extra}</span>}
                  </span>
                </li>
              );
            })}
          </ol>
        )}
      </details>

      <ErrorNote error={error} />
      <div className="actions">
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void act(() => api.scale(m.model_uid, Number(scaleTo)));
          }}
        >
          <label>
            <span>{t('models.scale')}</span>
            <input
              type="number"
              min={0}
              max={64}
              value={scaleTo}
              onChange={(e) => setScaleTo(e.target.value)}
            />
          </label>
          <button type="submit" className="btn" disabled={busy}>
            {t('models.scaleSubmit')}
          </button>
        </form>
        {ready && (
          <Link className="btn" href={`/chat?model=${encodeURIComponent(m.model_uid)}`}>
            {t('models.chat')}
          </Link>
        )}
        {launching && m.status !== 'ready' && (
          <button
            type="button"
            className="btn"
            disabled={busy}
            onClick={() => void act(() => api.cancel(m.model_uid))}
          >
            {t('models.cancelLaunch')}
          </button>
        )}
        {m.replicas.some((r) => r.status === 'failed') && (
          <button
            type="button"
            className="btn btn-primary"
            disabled={busy}
            onClick={() => void act(() => api.retry(m.model_uid))}
          >
            {t('models.retry')}
          </button>
        )}
        <button
          type="button"
          className="btn btn-danger"
          disabled={busy}
          onClick={() => {
            if (confirm(t('models.confirmTerminate', { uid: m.model_uid })))
              void act(() => api.terminate(m.model_uid));
          }}
        >
          {t('models.terminate')}
        </button>
      </div>
    </article>
  );
}
