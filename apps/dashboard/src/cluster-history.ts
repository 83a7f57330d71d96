// The cluster page's samples (each device's memory and utilization every 2 s), kept in this browser's
// storage for the last ten minutes so a visit, a navigation or a reload continues the charts instead
// of starting them empty.
import type { ClusterDevice } from '@pagoda/protocol';

export const WINDOW_MS = 10 * 60_000;
const STORAGE_KEY = 'pagoda.clusterHistory';

/** What the charts need of a device at one moment. */
export interface DeviceSample {
  key: string;
  worker: string;
  kind: string;
  index: number;
  used: number;
  claimed: number;
  total: number;
  util: number;
}

export interface Sample {
  t: number;
  devices: DeviceSample[];
}

export function sampleOf(t: number, devices: readonly ClusterDevice[]): Sample {
  return {
    t,
    devices: devices.map((d) => ({
      key: `${d.worker}/${d.index}`,
      worker: d.worker,
      kind: d.kind,
      index: d.index,
      used: d.memory_used,
      claimed: d.memory_claimed,
      total: d.memory_total,
      util: d.utilization,
    })),
  };
}

/** The stored samples younger than the window, oldest first; none when storage is empty or unreadable. */
export function loadHistory(now: number, storage: Pick<Storage, 'getItem'> = localStorage): Sample[] {
  try {
    const raw = JSON.parse(storage.getItem(STORAGE_KEY) ?? '[]') as unknown;
    if (!Array.isArray(raw)) return [];
    return raw
      .filter(
        (s): s is Sample =>
          typeof s === 'object' && s !== null && typeof s.t === 'number' && Array.isArray(s.devices),
      )
      .filter((s) => now - s.t < WINDOW_MS && s.t <= now)
      .sort((a, b) => a.t - b.t);
  } catch {
    return [];
  }
}

/** Adds a sample, drops those older than the window, stores and returns the result. */
export function addSample(
  history: readonly Sample[],
  sample: Sample,
  storage: Pick<Storage, 'setItem'> = localStorage,
): Sample[] {
  const next = [...history.filter((s) => sample.t - s.t < WINDOW_MS && s.t < sample.t), sample];
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(next));
  } catch {
    // Storage full or refused: the charts still work for this visit.
  }
  return next;
}
