// Polls a loader every `ms` while the page is shown; `reload` fetches at once (after an action). A 401
// stops it (the sign-in prompt takes over) until a key is given; then it starts again.
import { useCallback, useEffect, useRef, useState } from 'react';
import { reportAuthFailure, useAuthNeed } from './auth-state.ts';

export interface Polled<T> {
  data: T | null;
  error: Error | null;
  reload(): void;
}

export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[] = []): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const signedOut = useAuthNeed() !== null;

  useEffect(() => {
    if (signedOut) return;
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const v = await loadRef.current();
        if (!alive) return;
        setData(v);
        setError(null);
      } catch (err) {
        if (!alive) return;
        setError(err as Error);
        // The server wants a key: asking again every few seconds would only repeat the 401.
        if (reportAuthFailure(err)) return;
      }
      if (alive && ms > 0) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [ms, tick, signedOut, ...deps]);
  return { data, error, reload };
}
