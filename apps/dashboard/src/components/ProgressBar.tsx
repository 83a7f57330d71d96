// A labelled progress bar (0..1) with its percentage.
import { useI18n } from '../i18n/index.tsx';

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const { pct } = useI18n();
  const v = Math.max(0, Math.min(1, value));
  return (
    <div className="progress">
      <div className="progress-label">
        <span>{label}</span>
        <span>{pct(v)}</span>
      </div>
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(v * 100)}
      >
        <div className="progress-fill" style={{ width: `${v * 100}%` }} />
      </div>
    </div>
  );
}
