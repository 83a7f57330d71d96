// One GPU's memory as a stacked bar: what others hold, then this launch's weights, activations, CUDA
// graphs, overhead and KV cache, then what stays free; a legend with the sizes below. The bar's scale
// is honest: when the launch needs more than the GPU has, the bar grows past a mark at the GPU's size
// and the part beyond it is drawn as overflow.
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

/** Where the bar ends and how far past the GPU's memory: what others hold plus the larger of the launch's needs and its budget. */
export function memoryScale(g: GpuPlan): { end: number; need: number; over: number; scale: number } {
  const p = memoryParts(g);
  const need = p.weights! + p.activations! + p.cuda_graphs! + p.overhead! + p.kv_cache!;
  const end = p.other! + Math.max(need, g.claim);
  const over = Math.max(0, end - g.total);
  return { end, need, over, scale: Math.max(g.total, end) || 1 };
}

export function MemoryBar({ gpu, title, bad }: { gpu: GpuPlan; title: string; bad?: boolean }) {
  const { t, bytes, num } = useI18n();
  const parts = memoryParts(gpu);
  const { need, over, scale } = memoryScale(gpu);
  // Free is what the GPU keeps after this launch; none when it overflows.
  if (over > 0) parts.free = 0;
  const label = `${title}: ${PARTS.map((p) => `${t(p.label)} ${bytes(parts[p.key]!)}`).join(', ')}`;
  const capAt = (gpu.total / scale) * 100;
  return (
    <figure className={`membar${bad || over > 0 ? ' membar-bad' : ''}`}>
      <figcaption>
        <strong>{title}</strong>
        <span className={over > 0 ? 'membar-overtext' : 'muted'}>
          {over > 0
            ? t('mem.needsOver', {
                need: bytes(Math.max(need, gpu.claim)),
                total: bytes(gpu.total),
                over: bytes(over),
              })
            : t('mem.ofTotal', { used: bytes(gpu.claim), total: bytes(gpu.total) })}
          {over === 0 && <> · {t('mem.kvTokens', { tokens: num(gpu.kv_cache_tokens, 0) })}</>}
        </span>
      </figcaption>
      <div className="membar-track" role="img" aria-label={label}>
        {PARTS.map((p) =>
          parts[p.key]! > 0 ? (
            <div
              key={p.key}
              className={`membar-part mem-${p.key}`}
              style={{ width: `${(parts[p.key]! / scale) * 100}%` }}
              title={`${t(p.label)}: ${bytes(parts[p.key]!)}`}
            />
          ) : null,
        )}
        {over > 0 && (
          <>
            <div
              className="membar-over"
              style={{ left: `${capAt}%` }}
              title={t('mem.over', { over: bytes(over) })}
            />
            <div className="membar-cap" style={{ left: `${capAt}%` }} />
          </>
        )}
      </div>
      <ul className="legend">
        {PARTS.filter((p) => parts[p.key]! > 0).map((p) => (
          <li key={p.key}>
            <i className={`swatch mem-${p.key}`} aria-hidden="true" />
            {t(p.label)} <span className="muted">{bytes(parts[p.key]!)}</span>
          </li>
        ))}
        {over > 0 && (
          <li>
            <i className="swatch membar-over-swatch" aria-hidden="true" />
            {t('mem.over', { over: bytes(over) })}
          </li>
        )}
      </ul>
    </figure>
  );
}
