// The chat page's conversations, kept in this browser's localStorage: several, each with its mode,
// model, system prompt and turns, so that a conversation survives navigation and reload.

export type ChatMode = 'chat' | 'completion';

export interface TurnStats {
  tokens: number;
  seconds: number;
  ttftMs: number;
}

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
  stats?: TurnStats;
  /** Why the answer ended when it was not "stop" (length, abort by the user, …); null: a normal end. */
  finish?: string | null;
}

export interface Conversation {
  id: string;
  /** Set by the user (rename) or, until then, from the first message. */
  title: string;
  renamed: boolean;
  mode: ChatMode;
  model: string;
  system: string;
  turns: Turn[];
  updated: number;
}

const LIST = 'pagoda.chat.conversations';
const CURRENT = 'pagoda.chat.current';
/** The most kept: the oldest beyond it are dropped so storage never fills up. */
const MAX_CONVERSATIONS = 50;

export function newConversation(mode: ChatMode, model: string, system = ''): Conversation {
  return {
    id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`,
    title: '',
    renamed: false,
    mode,
    model,
    system,
    turns: [],
    updated: Date.now(),
  };
}

/** A title from the first user message: its first line, cut at 40 characters. */
export function autoTitle(turns: readonly Turn[]): string {
  const first =
    turns
      .find((t) => t.role === 'user')
      ?.content.trim()
      .split('\n')[0] ?? '';
  return first.length > 40 ? `${first.slice(0, 40).trimEnd()}…` : first;
}

function isConversation(v: unknown): v is Conversation {
  const c = v as Conversation | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.id === 'string' &&
    Array.isArray(c.turns) &&
    (c.mode === 'chat' || c.mode === 'completion')
  );
}

export function loadConversations(): Conversation[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(LIST) ?? '[]') as unknown;
    return Array.isArray(parsed) ? parsed.filter(isConversation) : [];
  } catch {
    return [];
  }
}

export function saveConversations(list: readonly Conversation[]): void {
  // Empty conversations are not worth keeping; the newest come first.
  const kept = list
    .filter((c) => c.turns.length > 0)
    .sort((a, b) => b.updated - a.updated)
    .slice(0, MAX_CONVERSATIONS);
  try {
    localStorage.setItem(LIST, JSON.stringify(kept));
  } catch {
    // storage full or disabled: the conversation still works for this visit
  }
}

export function loadCurrentId(): string | null {
  return localStorage.getItem(CURRENT);
}

export function saveCurrentId(id: string): void {
  localStorage.setItem(CURRENT, id);
}
