// Running models: every launched model with live status and start progress (events socket), load
// figures scraped from /metrics every 2 s (tokens/s, KV cache, running / waiting), logs, and the
// scale / cancel / terminate actions.
import { useRef, useState } from 'react';
import { api } from '../api/client.ts';
import { useEventListener } from '../api/events.tsx';
import { loadByModel, parsePrometheus, tokensPerSecond } from '../api/prometheus.ts';
import type { ModelView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { ModelPanel, type LiveLoad } from '../components/ModelPanel.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { useI18n } from '../i18n/index.tsx';
import { Link } from '../router.tsx';

const LOG_LINES = 300;

export function ModelsPage() {
  const { t } = useI18n();
  const models = usePoll<ModelView[]>(() => api.listModels(), 3000);
  const [phases, setPhases] = useState<Record<string, string | null>>({});
  const [logs, setLogs] = useState<Record<string, string[]>>({});
  const last = useRef<{ at: number; tokens: Map<string, number> } | null>(null);
  const [load, setLoad] = useState<Record<string, LiveLoad>>({});

  useEventListener((e) => {
    if (e.type === 'progress') setPhases((p) => ({ ...p, [e.replica_id]: e.phase }));
    if (e.type === 'logs')
      setLogs((l) => ({
        ...l,
        [e.model_uid]: [...(l[e.model_uid] ?? []), ...e.lines].slice(-LOG_LINES),
      }));
    if (e.type === 'status' || e.type === 'progress') models.reload();
  });

  usePoll(async () => {
    const text = await api.metricsText();
    const now = performance.now();
    const byModel = loadByModel(parsePrometheus(text));
    const prev = last.current;
    const next: Record<string, LiveLoad> = {};
    for (const [uid, m] of byModel) {
      next[uid] = {
        tokensPerSecond: prev
          ? tokensPerSecond(prev.tokens.get(uid), m.generationTokens, (now - prev.at) / 1000)
          : null,
        kvCache: m.kvCache,
        running: m.running,
        waiting: m.waiting,
      };
    }
    last.current = {
      at: now,
      tokens: new Map([...byModel].map(([k, v]) => [k, v.generationTokens])),
    };
    setLoad(next);
    return null;
  }, 2000);

  const list = models.data ?? [];
  return (
    <>
      <PageHeader title={t('models.title')} subtitle={t('models.subtitle')} />
      <ErrorNote error={models.error} />
      {!models.data && !models.error && <p className="muted">{t('common.loading')}</p>}
      {models.data && list.length === 0 && (
        <div className="empty">
          <p>{t('models.empty')}</p>
          <Link className="btn btn-primary" href="/launch">
            {t('models.launchOne')}
          </Link>
        </div>
      )}
      <div className="stack">
        {list.map((m) => (
          <ModelPanel
            key={m.model_uid}
            model={m}
            phases={phases}
            logs={logs[m.model_uid] ?? []}
            load={load[m.model_uid] ?? null}
            onChanged={models.reload}
          />
        ))}
      </div>
    </>
  );
}
