// Running models: every launched model with live status and start progress (events socket), load
// figures scraped from /metrics every 2 s (tokens/s, KV cache, running / waiting), logs (the server's
// history first, then live lines), and the scale / cancel / retry / terminate actions.
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client.ts';
import { useEventListener } from '../api/events.tsx';
import { loadByModel, parsePrometheus, tokensPerSecond } from '../api/prometheus.ts';
import type { ModelView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { ModelPanel, type LiveLoad } from '../components/ModelPanel.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { useI18n } from '../i18n/index.tsx';
import { joinHistory } from '../log-lines.ts';
import { Link } from '../router.tsx';

const LOG_LINES = 300;

export function ModelsPage() {
  const { t } = useI18n();
  const models = usePoll<ModelView[]>(() => api.listModels(), 3000);
  const [phases, setPhases] = useState<Record<string, string | null>>({});
  // Per model, per replica: the lines shown (history joined with live ones).
  const [logs, setLogs] = useState<Record<string, Record<string, string[]>>>({});
  const historyAsked = useRef(new Set<string>());
  const last = useRef<{ at: number; tokens: Map<string, number> } | null>(null);
  const [load, setLoad] = useState<Record<string, LiveLoad>>({});

  useEventListener((e) => {
    if (e.type === 'progress') setPhases((p) => ({ ...p, [e.replica_id]: e.phase }));
    if (e.type === 'logs')
      setLogs((l) => {
        const mine = l[e.model_uid] ?? {};
        const lines = [...(mine[e.replica_id] ?? []), ...e.lines].slice(-LOG_LINES);
        return { ...l, [e.model_uid]: { ...mine, [e.replica_id]: lines } };
      });
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
  // A visit starts with the lines the server kept; live ones that came meanwhile follow them once.
  const uids = list.map((m) => m.model_uid).join('\n');
  useEffect(() => {
    const shown = uids ? uids.split('\n') : [];
    // A model terminated meanwhile may be launched again under its uid: its history is asked anew.
    for (const uid of historyAsked.current) if (!shown.includes(uid)) historyAsked.current.delete(uid);
    for (const uid of shown) {
      if (historyAsked.current.has(uid)) continue;
      historyAsked.current.add(uid);
      api.logs(uid, LOG_LINES).then(
        (h) =>
          setLogs((l) => {
            const mine = { ...(l[uid] ?? {}) };
            for (const r of h.replicas)
              mine[r.replica_id] = joinHistory(r.lines, mine[r.replica_id] ?? []).slice(-LOG_LINES);
            return { ...l, [uid]: mine };
          }),
        () => historyAsked.current.delete(uid),
      );
    }
  }, [uids]);
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
            logs={m.replicas.flatMap((r) =>
              (logs[m.model_uid]?.[r.replica_id] ?? []).map((line) => ({ replica: r.index, line })),
            )}
            load={load[m.model_uid] ?? null}
            onChanged={models.reload}
          />
        ))}
      </div>
    </>
  );
}
