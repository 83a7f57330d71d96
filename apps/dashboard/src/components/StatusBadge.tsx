// A model, replica or worker state as a coloured, translated badge.
import { useI18n } from '../i18n/index.tsx';
import type { MessageKey } from '../i18n/en.ts';

const TONE: Record<string, string> = {
  ready: 'ok',
  alive: 'ok',
  done: 'ok',
  launching: 'busy',
  scheduled: 'busy',
  downloading: 'busy',
  loading: 'busy',
  pending: 'busy',
  running: 'busy',
  degraded: 'warn',
  lost: 'warn',
  failed: 'bad',
  stopped: 'idle',
};

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const key = `status.${status}` as MessageKey;
  const text = t(key) === key ? status : t(key);
  return <span className={`badge badge-${TONE[status] ?? 'idle'}`}>{text}</span>;
}
