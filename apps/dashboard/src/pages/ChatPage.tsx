// Chat playground: a ready model, a system prompt and sampling settings; answers stream in through
// /v1/chat/completions (or /v1/completions in completion mode) with tokens, time and speed each.
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client.ts';
import { streamPost } from '../api/sse.ts';
import type { ModelView } from '../api/types.ts';
import { usePoll } from '../api/usePoll.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { Field } from '../components/Field.tsx';
import { ModelSelect } from '../components/ModelSelect.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { useI18n } from '../i18n/index.tsx';
import { Link, query } from '../router.tsx';

interface Turn {
  role: 'user' | 'assistant';
  content: string;
  stats?: { tokens: number; seconds: number; ttftMs: number };
}

interface Chunk {
  choices?: Array<{ delta?: { content?: string }; text?: string }>;
  usage?: { completion_tokens: number } | null;
  error?: { message: string };
}

export function ChatPage() {
  const { t, num } = useI18n();
  const ready = usePoll<ModelView[]>(() => api.readyModels(), 5000);
  const [model, setModel] = useState(query('model') ?? '');
  const [mode, setMode] = useState<'chat' | 'completion'>('chat');
  const [system, setSystem] = useState('');
  const [temperature, setTemperature] = useState('0.7');
  const [topP, setTopP] = useState('1');
  const [maxTokens, setMaxTokens] = useState('128');
  const [seed, setSeed] = useState('');
  const [input, setInput] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [abort, setAbort] = useState<AbortController | null>(null);
  const log = useRef<HTMLDivElement>(null);

  // Embedding and rerank models do not chat: the retrieval page tries them.
  const models = (ready.data ?? []).filter((m) => m.model_type === 'LLM');
  useEffect(() => {
    if (models.length > 0 && !models.some((m) => m.model_uid === model))
      setModel(models[0]!.model_uid);
  }, [models, model]);
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [turns]);

  const send = async () => {
    const text = input.trim();
    if (!text || !model || abort) return;
    const history: Turn[] =
      mode === 'chat'
        ? [...turns, { role: 'user', content: text }]
        : [{ role: 'user', content: text }];
    setTurns([...history, { role: 'assistant', content: '' }]);
    setInput('');
    setError(null);
    const ctl = new AbortController();
    setAbort(ctl);
    const sampling = {
      model,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: Number(maxTokens) || 128,
      temperature: Number(temperature),
      top_p: Number(topP),
      ...(seed.trim() ? { seed: Number(seed) } : {}),
    };
    const body =
      mode === 'chat'
        ? {
            ...sampling,
            messages: [
              ...(system.trim() ? [{ role: 'system', content: system }] : []),
              ...history.map(({ role, content }) => ({ role, content })),
            ],
          }
        : { ...sampling, prompt: text };
    const start = performance.now();
    let first = 0;
    let chunks = 0;
    let usage: number | null = null;
    let answer = mode === 'completion' ? text : '';
    const show = (stats?: Turn['stats']) =>
      setTurns([...history, { role: 'assistant', content: answer, stats }]);
    try {
      for await (const raw of streamPost(
        mode === 'chat' ? '/v1/chat/completions' : '/v1/completions',
        body,
        ctl.signal,
      )) {
        const c = raw as Chunk;
        if (c.error) throw new Error(c.error.message);
        if (c.usage) usage = c.usage.completion_tokens;
        const piece = c.choices?.map((ch) => ch.delta?.content ?? ch.text ?? '').join('') ?? '';
        if (!piece) continue;
        if (chunks === 0) first = performance.now();
        chunks += 1;
        answer += piece;
        show();
      }
    } catch (err) {
      if (!ctl.signal.aborted) setError(err as Error);
    } finally {
      const end = performance.now();
      show({
        tokens: usage ?? chunks,
        seconds: (end - start) / 1000,
        ttftMs: first ? first - start : 0,
      });
      setAbort(null);
    }
  };

  return (
    <>
      <PageHeader title={t('chat.title')} subtitle={t('chat.subtitle')} />
      {ready.data && models.length === 0 && (
        <div className="empty">
          <p>{t('chat.noModels')}</p>
          <Link className="btn btn-primary" href="/launch">
            {t('models.launchOne')}
          </Link>
        </div>
      )}
      <div className="chat-layout">
        <aside className="card chat-settings" aria-label={t('chat.settings')}>
          <Field label={t('chat.model')}>
            <ModelSelect models={models} value={model} onChange={setModel} />
          </Field>
          <fieldset className="segmented">
            <legend>{t('chat.mode')}</legend>
            {(['chat', 'completion'] as const).map((v) => (
              <label key={v}>
                <input
                  type="radio"
                  name="mode"
                  value={v}
                  checked={mode === v}
                  onChange={() => {
                    setMode(v);
                    setTurns([]);
                  }}
                />
                <span>{v === 'chat' ? t('chat.modeChat') : t('chat.modeCompletion')}</span>
              </label>
            ))}
          </fieldset>
          {mode === 'chat' && (
            <Field label={t('chat.system')}>
              <textarea
                rows={3}
                value={system}
                placeholder={t('chat.systemPlaceholder')}
                onChange={(e) => setSystem(e.target.value)}
              />
            </Field>
          )}
          <div className="grid-2">
            <Field label={t('chat.temperature')}>
              <input
                type="number"
                min={0}
                max={2}
                step={0.1}
                value={temperature}
                onChange={(e) => setTemperature(e.target.value)}
              />
            </Field>
            <Field label={t('chat.topP')}>
              <input
                type="number"
                min={0}
                max={1}
                step={0.05}
                value={topP}
                onChange={(e) => setTopP(e.target.value)}
              />
            </Field>
            <Field label={t('chat.maxTokens')}>
              <input
                type="number"
                min={1}
                value={maxTokens}
                onChange={(e) => setMaxTokens(e.target.value)}
              />
            </Field>
            <Field label={t('chat.seed')}>
              <input
                type="number"
                value={seed}
                placeholder="–"
                onChange={(e) => setSeed(e.target.value)}
              />
            </Field>
          </div>
        </aside>
        <section className="card chat-main">
          <div
            className="chat-log"
            ref={log}
            aria-live="polite"
            tabIndex={0}
            aria-label={t('chat.title')}
          >
            {turns.length === 0 && <p className="muted">{t('chat.empty')}</p>}
            {turns.map((turn, i) => (
              <div key={i} className={`turn turn-${turn.role}`}>
                <div className="turn-who">
                  {turn.role === 'user' ? t('chat.you') : t('chat.assistant')}
                </div>
                <div
                  className="turn-text"
                  data-testid={turn.role === 'assistant' ? 'answer' : undefined}
                >
                  {turn.content}
                  {turn.role === 'assistant' && !turn.stats && (
                    <span className="cursor" aria-hidden="true" />
                  )}
                </div>
                {turn.stats && (
                  <div className="turn-stats muted" data-testid="answer-stats">
                    {t('chat.stats', {
                      tokens: num(turn.stats.tokens, 0),
                      seconds: num(turn.stats.seconds, 2),
                      speed: num(
                        turn.stats.seconds > 0 ? turn.stats.tokens / turn.stats.seconds : 0,
                        1,
                      ),
                      ttft: num(turn.stats.ttftMs, 0),
                    })}
                  </div>
                )}
              </div>
            ))}
          </div>
          <ErrorNote error={error} />
          <form
            className="chat-input"
            onSubmit={(e) => {
              e.preventDefault();
              void send();
            }}
          >
            <label htmlFor="chat-input" className="sr-only">
              {t('chat.input')}
            </label>
            <textarea
              id="chat-input"
              rows={3}
              value={input}
              placeholder={
                mode === 'chat' ? t('chat.inputPlaceholder') : t('chat.promptPlaceholder')
              }
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && !e.shiftKey) {
                  e.preventDefault();
                  void send();
                }
              }}
            />
            <div className="actions">
              {abort ? (
                <button type="button" className="btn" onClick={() => abort.abort()}>
                  {t('chat.stop')}
                </button>
              ) : (
                <button
                  type="submit"
                  className="btn btn-primary"
                  disabled={!model || !input.trim()}
                >
                  {t('chat.send')}
                </button>
              )}
              <button
                type="button"
                className="btn btn-ghost"
                onClick={() => setTurns([])}
                disabled={!!abort}
              >
                {t('chat.clear')}
              </button>
            </div>
          </form>
        </section>
      </div>
    </>
  );
}
