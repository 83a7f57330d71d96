// The /api/events WebSocket, one per tab: reconnects with back-off and hands every message to the
// pages that subscribe (status, progress, logs, worker, metrics). A socket the server refuses for want
// of a key stops reconnecting (`paused`) until the browser signs in.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import { api, apiKey, API_KEY_CHANGED } from './client.ts';
import { reportAuthFailure, useAuthNeed } from './auth-state.ts';
import { serverError } from '../i18n/server-error.ts';
import type { PlatformEventMessage } from '@pagoda/protocol';

type Listener = (e: PlatformEventMessage) => void;

interface Events {
  connected: boolean;
  /** Not reconnecting: the server wants a key (or an admin key) this browser does not hold. */
  paused: boolean;
  subscribe(fn: Listener): () => void;
}

const EventsContext = createContext<Events | null>(null);

function socketUrl(): string {
  const key = apiKey.get();
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${proto}://${location.host}/api/events${key ? `?api_key=${encodeURIComponent(key)}` : ''}`;
}

export function EventsProvider({ children }: { children: ReactNode }) {
  const listeners = useRef(new Set<Listener>());
  const [connected, setConnected] = useState(false);
  const [forbidden, setForbidden] = useState(false);
  const signedOut = useAuthNeed() !== null;
  // Another key stored (API keys page, sign-in): connect again with it.
  const [keyVersion, setKeyVersion] = useState(0);
  useEffect(() => {
    const changed = () => setKeyVersion((v) => v + 1);
    window.addEventListener(API_KEY_CHANGED, changed);
    return () => window.removeEventListener(API_KEY_CHANGED, changed);
  }, []);

  useEffect(() => {
    setForbidden(false);
    if (signedOut) return;
    let ws: WebSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let delay = 500;
    let closed = false;
    const open = () => {
      ws = new WebSocket(socketUrl());
      let opened = false;
      ws.onopen = () => {
        opened = true;
        delay = 500;
        setConnected(true);
      };
      ws.onmessage = (m) => {
        let event: PlatformEventMessage;
        try {
          event = JSON.parse(String(m.data)) as PlatformEventMessage;
        } catch {
          return;
        }
        for (const fn of listeners.current) fn(event);
      };
      ws.onclose = () => {
        setConnected(false);
        if (closed) return;
        const again = () => {
          if (closed) return;
          retry = setTimeout(open, delay);
          delay = Math.min(delay * 2, 10_000);
        };
        if (opened) return again();
        // A refused upgrade hides its status from the page: ask an admin route why, and stop on 401/403.
        api.keys().then(again, (err: unknown) => {
          if (closed || reportAuthFailure(err)) return;
          if (serverError(err).status === 403) setForbidden(true);
          else again();
        });
      };
    };
    open();
    return () => {
      closed = true;
      clearTimeout(retry);
      ws?.close();
    };
  }, [signedOut, keyVersion]);

  const subscribe = useCallback((fn: Listener) => {
    listeners.current.add(fn);
    return () => void listeners.current.delete(fn);
  }, []);
  const paused = signedOut || forbidden;
  const value = useMemo<Events>(
    () => ({ connected, paused, subscribe }),
    [connected, paused, subscribe],
  );
  return <EventsContext.Provider value={value}>{children}</EventsContext.Provider>;
}

export function useEvents(): Events {
  const v = useContext(EventsContext);
  if (!v) throw new Error('useEvents outside EventsProvider');
  return v;
}

/** Calls `fn` for each event while the component is mounted. */
export function useEventListener(fn: Listener): void {
  const { subscribe } = useEvents();
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe((e) => ref.current(e)), [subscribe]);
}
