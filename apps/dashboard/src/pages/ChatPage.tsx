// Chat playground: a ready model, a system prompt and sampling settings; answers stream in through
// /v1/chat/completions (or /v1/completions in completion mode), rendered as markdown, with tokens,
// time, speed and the finish reason when it is not "stop". Conversations are kept in this browser
// (several, renamable, deletable); a message can be copied, edited and resent, an answer regenerated.
import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api/client.ts';
import { streamPost } from '../api/sse.ts';
import type { ModelView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import {
  autoTitle,
  loadConversations,
  loadCurrentId,
  newConversation,
  saveConversations,
  saveCurrentId,
  type ChatMode,
  type Conversation,
  type Turn,
} from '../chat/conversations.ts';
import { CopyButton } from '../components/CopyButton.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { Field } from '../components/Field.tsx';
import { Markdown } from '../components/Markdown.tsx';
import { ModelSelect } from '../components/ModelSelect.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { useI18n } from '../i18n/index.tsx';
import { Link, query } from '../router.tsx';
import './chat.css';

interface Chunk {
  choices?: Array<{
    delta?: { content?: string };
    text?: string;
    finish_reason?: string | null;
  }>;
  usage?: { completion_tokens: number } | null;
  error?: { message: string; code?: string; param?: string };
}

const SETTINGS = 'pagoda.chat.settings';
interface Sampling {
  temperature: string;
  topP: string;
  maxTokens: string;
  seed: string;
}

function loadSampling(): Sampling {
  const fallback = { temperature: '0.7', topP: '1', maxTokens: '128', seed: '' };
  try {
    return {
      ...fallback,
      ...(JSON.parse(localStorage.getItem(SETTINGS) ?? '{}') as Partial<Sampling>),
    };
  } catch {
    return fallback;
  }
}

/** On a phone the conversation comes first: the settings start folded. */
const narrow = () => window.matchMedia('(max-width: 900px)').matches;

export function ChatPage() {
  const { t, num } = useI18n();
  const ready = usePoll<ModelView[]>(() => api.listModels({ all: false }), 5000);
  const [list, setList] = useState<Conversation[]>(loadConversations);
  const [draft, setDraft] = useState<Conversation>(() =>
    newConversation('chat', query('model') ?? ''),
  );
  // The conversation open last, unless the link names another model ("Open in chat"): then a new one
  // with that model, the others kept in the list.
  const [currentId, setCurrentId] = useState<string>(() => {
    const wanted = query('model');
    const saved = list.find((c) => c.id === loadCurrentId()) ?? list[0];
    return saved && (!wanted || saved.model === wanted) ? saved.id : draft.id;
  });
  const conv = list.find((c) => c.id === currentId) ?? draft;
  const [sampling, setSampling] = useState<Sampling>(loadSampling);
  const [input, setInput] = useState('');
  const [editing, setEditing] = useState<{ index: number; text: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [abort, setAbort] = useState<AbortController | null>(null);
  const [settingsOpen] = useState(() => !narrow());
  const log = useRef<HTMLDivElement>(null);

  /** Replaces the current conversation (adding it to the list once it has turns) and stores the list. */
  const update = (next: Conversation) => {
    const stamped = {
      ...next,
      updated: Date.now(),
      title: next.renamed ? next.title : autoTitle(next.turns),
    };
    // A conversation is listed once it has turns; emptied again (a refused first message), it is a draft.
    setList((old) => {
      const rest = old.filter((c) => c.id !== stamped.id);
      const out = stamped.turns.length > 0 ? [stamped, ...rest] : rest;
      saveConversations(out);
      return out;
    });
    if (stamped.turns.length === 0) setDraft(stamped);
    setCurrentId(stamped.id);
    saveCurrentId(stamped.id);
  };

  useEffect(() => localStorage.setItem(SETTINGS, JSON.stringify(sampling)), [sampling]);

  // Embedding and rerank models do not chat: the retrieval page tries them.
  const models = useMemo(
    () => (ready.data ?? []).filter((m) => m.model_type === 'LLM'),
    [ready.data],
  );
  const model = conv.model;
  useEffect(() => {
    if (models.length > 0 && !models.some((m) => m.model_uid === model))
      update({ ...conv, model: models[0]!.model_uid });
  }, [models, model]);
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [conv.turns]);

  /** Streams an answer to `history` (its last turn is the user's) into conversation `base`. */
  const answer = async (base: Conversation, history: Turn[]) => {
    if (!base.model || abort) return;
    const mode = base.mode;
    const prompt = history.at(-1)!.content;
    setError(null);
    const ctl = new AbortController();
    setAbort(ctl);
    let current: Conversation = {
      ...base,
      turns: [...history, { role: 'assistant', content: '' }],
    };
    update(current);
    const body = {
      model: base.model,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: Number(sampling.maxTokens) || 128,
      temperature: Number(sampling.temperature),
      top_p: Number(sampling.topP),
      ...(sampling.seed.trim() ? { seed: Number(sampling.seed) } : {}),
      ...(mode === 'chat'
        ? {
            messages: [
              ...(base.system.trim() ? [{ role: 'system', content: base.system }] : []),
              ...history.map(({ role, content }) => ({ role, content })),
            ],
          }
        : { prompt }),
    };
    const start = performance.now();
    let first = 0;
    let chunks = 0;
    let usage: number | null = null;
    let finish: string | null = null;
    let text = mode === 'completion' ? prompt : '';
    let failed = false;
    const show = (done?: Partial<Turn>) => {
      current = {
        ...current,
        turns: [...history, { role: 'assistant', content: text, ...done }],
      };
      update(current);
    };
    try {
      for await (const raw of streamPost(
        mode === 'chat' ? '/v1/chat/completions' : '/v1/completions',
        body,
        ctl.signal,
      )) {
        const c = raw as Chunk;
        // An error in the stream carries the same body as a refused request: translated alike.
        if (c.error) throw Object.assign(new Error(c.error.message), { body: c });
        if (c.usage) usage = c.usage.completion_tokens;
        for (const ch of c.choices ?? []) if (ch.finish_reason) finish = ch.finish_reason;
        const piece = c.choices?.map((ch) => ch.delta?.content ?? ch.text ?? '').join('') ?? '';
        if (!piece) continue;
        if (chunks === 0) first = performance.now();
        chunks += 1;
        text += piece;
        show();
      }
    } catch (err) {
      if (ctl.signal.aborted) finish = 'abort';
      else {
        setError(err);
        failed = chunks === 0;
      }
    }
    const end = performance.now();
    setAbort(null);
    if (failed) {
      // Refused before any text: the conversation stays as it was and the message goes back into
      // the box, to send again once the setting the error names is changed.
      update({ ...current, turns: base.turns });
      if (history.at(-1)!.role === 'user' && history.length > base.turns.length) setInput(prompt);
      return;
    }
    show({
      stats: {
        tokens: usage ?? chunks,
        seconds: (end - start) / 1000,
        ttftMs: first ? first - start : 0,
      },
      finish: finish === 'stop' ? null : finish,
    });
  };

  const send = () => {
    const text = input.trim();
    if (!text || !conv.model || abort) return;
    setInput('');
    const history: Turn[] =
      conv.mode === 'chat'
        ? [...conv.turns, { role: 'user', content: text }]
        : [{ role: 'user', content: text }];
    void answer(conv, history);
  };

  /** The last answer again: its question (and everything before) resent. */
  const regenerate = (index: number) => {
    const history = conv.turns.slice(0, index);
    if (history.at(-1)?.role !== 'user') return;
    void answer(conv, history);
  };

  /** An edited message replaces the original; what came after it is answered again. */
  const saveEdit = () => {
    if (!editing || !editing.text.trim()) return;
    const history: Turn[] = [
      ...conv.turns.slice(0, editing.index),
      { role: 'user', content: editing.text.trim() },
    ];
    setEditing(null);
    void answer(conv, history);
  };

  const startNew = (mode: ChatMode = conv.mode) => {
    const fresh = newConversation(mode, conv.model, conv.system);
    setDraft(fresh);
    setCurrentId(fresh.id);
    saveCurrentId(fresh.id);
    setEditing(null);
    setError(null);
  };

  const switchMode = (mode: ChatMode) => {
    if (mode === conv.mode) return;
    // What is kept in the list is not lost; only the message being typed would be.
    if (input.trim() && !confirm(t('chat.switchMode'))) return;
    setInput('');
    if (conv.turns.length === 0) update({ ...conv, mode });
    else startNew(mode);
  };

  const remove = (c: Conversation) => {
    if (!confirm(t('chat.confirmDelete', { title: c.title || t('chat.untitled') }))) return;
    const out = list.filter((x) => x.id !== c.id);
    setList(out);
    saveConversations(out);
    if (c.id === currentId) startNew();
  };

  const rename = (c: Conversation) => {
    const title = prompt(t('chat.renamePrompt'), c.title)?.trim();
    if (!title) return;
    const out = list.map((x) => (x.id === c.id ? { ...x, title, renamed: true } : x));
    setList(out);
    saveConversations(out);
  };

  const settings = (
    <>
      <Field label={t('chat.model')}>
        <ModelSelect
          models={models}
          value={model}
          onChange={(m) => update({ ...conv, model: m })}
        />
      </Field>
      <fieldset className="segmented">
        <legend>{t('chat.mode')}</legend>
        {(['chat', 'completion'] as const).map((v) => (
          <label key={v}>
            <input
              type="radio"
              name="mode"
              value={v}
              checked={conv.mode === v}
              onChange={() => switchMode(v)}
            />
            <span>{v === 'chat' ? t('chat.modeChat') : t('chat.modeCompletion')}</span>
          </label>
        ))}
      </fieldset>
      {conv.mode === 'chat' && (
        <Field label={t('chat.system')}>
          <textarea
            rows={3}
            value={conv.system}
            placeholder={t('chat.systemPlaceholder')}
            onChange={(e) => update({ ...conv, system: e.target.value })}
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
            value={sampling.temperature}
            onChange={(e) => setSampling({ ...sampling, temperature: e.target.value })}
          />
        </Field>
        <Field label={t('chat.topP')}>
          <input
            type="number"
            min={0}
            max={1}
            step={0.05}
            value={sampling.topP}
            onChange={(e) => setSampling({ ...sampling, topP: e.target.value })}
          />
        </Field>
        <Field label={t('chat.maxTokens')}>
          <input
            type="number"
            min={1}
            value={sampling.maxTokens}
            onChange={(e) => setSampling({ ...sampling, maxTokens: e.target.value })}
          />
        </Field>
        <Field label={t('chat.seed')}>
          <input
            type="number"
            value={sampling.seed}
            placeholder="–"
            onChange={(e) => setSampling({ ...sampling, seed: e.target.value })}
          />
        </Field>
      </div>
    </>
  );

  const finishNote = (finish: string) =>
    finish === 'length'
      ? t('chat.finish.length')
      : finish === 'abort'
        ? t('chat.finish.stopped')
        : t('chat.finish.other', { reason: finish });

  const lastAssistant = conv.turns.length - 1;

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
      <div className="chat-layout chat-layout-3">
        <section className="card chat-main">
          <div
            className="chat-log"
            ref={log}
            aria-live="polite"
            tabIndex={0}
            aria-label={t('chat.title')}
          >
            {conv.turns.length === 0 && <p className="muted">{t('chat.empty')}</p>}
            {conv.turns.map((turn, i) => (
              <div key={i} className={`turn turn-${turn.role}`}>
                <div className="turn-who">
                  {turn.role === 'user' ? t('chat.you') : t('chat.assistant')}
                </div>
                {editing?.index === i ? (
                  <form
                    className="turn-edit"
                    onSubmit={(e) => {
                      e.preventDefault();
                      saveEdit();
                    }}
                  >
                    <label htmlFor="chat-edit" className="sr-only">
                      {t('chat.edit')}
                    </label>
                    <textarea
                      id="chat-edit"
                      rows={3}
                      value={editing.text}
                      onChange={(e) => setEditing({ index: i, text: e.target.value })}
                    />
                    <div className="actions">
                      <button
                        type="submit"
                        className="btn btn-primary btn-small"
                        disabled={!!abort}
                      >
                        {t('chat.saveEdit')}
                      </button>
                      <button
                        type="button"
                        className="btn btn-ghost btn-small"
                        onClick={() => setEditing(null)}
                      >
                        {t('common.cancel')}
                      </button>
                    </div>
                  </form>
                ) : (
                  <div
                    className="turn-text"
                    data-testid={turn.role === 'assistant' ? 'answer' : 'question'}
                  >
                    {turn.role === 'assistant' ? (
                      <Markdown text={turn.content} />
                    ) : (
                      <span className="plain">{turn.content}</span>
                    )}
                    {turn.role === 'assistant' && !turn.stats && (
                      <span className="cursor" aria-hidden="true" />
                    )}
                  </div>
                )}
                {turn.finish && (
                  <p className="note note-warn turn-finish" data-testid="finish-reason">
                    {finishNote(turn.finish)}
                  </p>
                )}
                <div className="turn-foot">
                  {turn.stats && (
                    <span className="turn-stats muted" data-testid="answer-stats">
                      {t('chat.stats', {
                        tokens: num(turn.stats.tokens, 0),
                        seconds: num(turn.stats.seconds, 2),
                        speed: num(
                          turn.stats.seconds > 0 ? turn.stats.tokens / turn.stats.seconds : 0,
                          1,
                        ),
                        ttft: num(turn.stats.ttftMs, 0),
                      })}
                    </span>
                  )}
                  {(turn.role === 'user' || turn.stats) && editing?.index !== i && (
                    <span className="turn-actions">
                      <CopyButton
                        text={turn.content}
                        label={t('chat.copy')}
                        className="btn btn-small btn-ghost"
                      />
                      {turn.role === 'user' && conv.mode === 'chat' && (
                        <button
                          type="button"
                          className="btn btn-small btn-ghost"
                          disabled={!!abort}
                          onClick={() => setEditing({ index: i, text: turn.content })}
                        >
                          {t('chat.edit')}
                        </button>
                      )}
                      {turn.role === 'assistant' && i === lastAssistant && (
                        <button
                          type="button"
                          className="btn btn-small btn-ghost"
                          disabled={!!abort}
                          onClick={() => regenerate(i)}
                        >
                          {t('chat.regenerate')}
                        </button>
                      )}
                    </span>
                  )}
                </div>
              </div>
            ))}
          </div>
          <ErrorNote
            error={error}
            labels={{
              model: t('chat.model'),
              messages: t('chat.input'),
              prompt: t('chat.input'),
              temperature: t('chat.temperature'),
              top_p: t('chat.topP'),
              max_tokens: t('chat.maxTokens'),
              seed: t('chat.seed'),
            }}
          />
          <form
            className="chat-input"
            onSubmit={(e) => {
              e.preventDefault();
              send();
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
                conv.mode === 'chat' ? t('chat.inputPlaceholder') : t('chat.promptPlaceholder')
              }
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && !e.shiftKey) {
                  e.preventDefault();
                  send();
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
                onClick={() => startNew()}
                disabled={!!abort}
              >
                {t('chat.newChat')}
              </button>
            </div>
          </form>
        </section>
        <aside className="chat-side">
          <details
            className="card chat-settings"
            open={settingsOpen}
            aria-label={t('chat.settings')}
          >
            <summary>{t('chat.settingsToggle')}</summary>
            {settings}
          </details>
          {list.length > 0 && (
            <section className="card chat-list" aria-labelledby="chat-list-title">
              <h2 id="chat-list-title">{t('chat.conversations')}</h2>
              <ul>
                {list.map((c) => (
                  <li key={c.id} className={c.id === currentId ? 'current' : undefined}>
                    <button
                      type="button"
                      className="chat-pick"
                      aria-current={c.id === currentId ? 'true' : undefined}
                      disabled={!!abort}
                      onClick={() => {
                        setCurrentId(c.id);
                        saveCurrentId(c.id);
                        setEditing(null);
                        setError(null);
                      }}
                    >
                      <span className="chat-title">{c.title || t('chat.untitled')}</span>
                      <span className="muted chat-meta">
                        {c.mode === 'chat'
                          ? t('chat.modeLabel.chat')
                          : t('chat.modeLabel.completion')}
                        {' · '}
                        {c.model}
                      </span>
                    </button>
                    <span className="chat-row-actions">
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        aria-label={`${t('chat.rename')}: ${c.title || t('chat.untitled')}`}
                        onClick={() => rename(c)}
                      >
                        {t('chat.rename')}
                      </button>
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        aria-label={`${t('chat.deleteConversation')}: ${c.title || t('chat.untitled')}`}
                        disabled={!!abort && c.id === currentId}
                        onClick={() => remove(c)}
                      >
                        {t('chat.deleteConversation')}
                      </button>
                    </span>
                  </li>
                ))}
              </ul>
            </section>
          )}
        </aside>
      </div>
    </>
  );
}
