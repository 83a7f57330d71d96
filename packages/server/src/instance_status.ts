// An instance's status from its desired replica count and its replicas' states: what the API and
// the dashboard show, so it must say whether the model serves, and if not, why.
import type { InstanceState } from '@pagoda/protocol';

export function instanceStatus(desired: number, states: string[]): InstanceState {
  // Scaled to 0 on purpose: it serves nothing, and 'ready' would promise otherwise.
  if (desired === 0) return 'stopped';
  const ready = states.filter((s) => s === 'ready').length;
  if (ready >= desired) return 'ready';
  if (ready > 0) return 'degraded';
  if (states.length > 0 && states.every((s) => s === 'failed')) return 'failed';
  return 'launching';
}
