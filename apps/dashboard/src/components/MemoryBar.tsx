// One GPU's memory as a stacked bar: what others hold, then this launch's weights, activations, CUDA
// graphs, overhead and KV cache, then what stays free; a legend with the sizes below.
import type { GpuPlan } from '@pagoda/protocol';
import { useI18n } from '../i18n/index.tsx';
import type { MessageKey } from '../i18n/en.ts';

const PARTS: Array<{ key: keyof GpuPlan | 'other' | 'free'; label: MessageKey }> = [
  { key: 'other', label: 'mem.other' },
  { key: 'weights', label: 'mem.weights' },
  { key: 'activations', label: 'mem.activations' },
  { key: 'cuda_graphs', label: 'mem.cuda_graphs' },
  { key: 'overhead', label: 'mem.overhead' },
  { key: 'kv_cache', label: 'mem.kv_cache' },
  { key: 'free', label: 'mem.free' },
];

export function memoryParts(g: GpuPlan): Record<string, number> {
  const pos = (n: number) => Math.max(0, n);
  return {
    other: pos(g.total - g.available),
    weights: pos(g.weights),
    activations: pos(g.activations),
    cuda_graphs: pos(g.cuda_graphs),
    overhead: pos(g.overhead),
    kv_cache: pos(g.kv_cache),
    free: pos(g.free_after),
  };
}

export function MemoryBar({ gpu, title, bad }: { gpu: GpuPlan; title: string; bad?: boolean }) {
  const { t, bytes, num } = useI18n();
  const parts = memoryParts(gpu);
  const sum = Object.values(parts).reduce((a, b) => a + b, 0) || 1;
  const label = `${title}: ${PARTS.map((p) => `${t(p.label)} ${bytes(parts[p.key]!)}`).join(', ')}`;
  return (
    <figure className={`membar${bad ? ' membar-bad' : ''}`}>
      <figcaption>
        <strong>{title}</strong>
        <span className="muted">
          {t('mem.ofTotal', { used: bytes(gpu.claim), total: bytes(gpu.total) })} ·{' '}
          {t('mem.kvTokens', { tokens: num(gpu.kv_cache_tokens, 0) })}
        </span>
      </figcaption>
      <div className="membar-track" role="img" aria-label={label}>
        {PARTS.map((p) =>
          parts[p.key]! > 0 ? (
            <div
              key={p.key}
              className={`membar-part mem-${p.key}`}
              style={{ width: `${(parts[p.key]! / sum) * 100}%` }}
              title={`${t(p.label)}: ${bytes(parts[p.key]!)}`}
            />
          ) : null,
        )}
      </div>
      <ul className="legend">
        {PARTS.filter((p) => parts[p.key]! > 0).map((p) => (
          <li key={p.key}>
            <i className={`swatch mem-${p.key}`} aria-hidden="true" />
            {t(p.label)} <span className="muted">{bytes(parts[p.key]!)}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}
