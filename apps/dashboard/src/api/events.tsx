// The /api/events WebSocket, one per tab: reconnects with back-off and hands every message to the
// pages that subscribe (status, progress, logs, worker, metrics).
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
import { apiKey } from './client.ts';
import type { PlatformEventMessage } from '@pagoda/protocol';

type Listener = (e: PlatformEventMessage) => void;

interface Events {
  connected: boolean;
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

  useEffect(() => {
    let ws: WebSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let delay = 500;
    let closed = false;
    const open = () => {
      ws = new WebSocket(socketUrl());
      ws.onopen = () => {
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
        retry = setTimeout(open, delay);
        delay = Math.min(delay * 2, 10_000);
      };
    };
    open();
    return () => {
      closed = true;
      clearTimeout(retry);
      ws?.close();
    };
  }, []);

  const subscribe = useCallback((fn: Listener) => {
    listeners.current.add(fn);
    return () => void listeners.current.delete(fn);
  }, []);
  const value = useMemo<Events>(() => ({ connected, subscribe }), [connected, subscribe]);
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
