// A small SVG line chart of time series: y from 0 to the largest value (or `max`), x over the window
// shown, a legend naming each series. No chart library: a few paths and ticks.
import { useI18n } from '../i18n/index.tsx';

export interface Series {
  name: string;
  points: Array<{ t: number; v: number }>;
}

const W = 640;
const H = 200;
const PAD = { l: 56, r: 12, t: 12, b: 24 };
export const PALETTE = [
  '#d9480f',
  '#1c7ed6',
  '#2b8a3e',
  '#ae3ec9',
  '#e67700',
  '#0c8599',
  '#c2255c',
  '#5c940d',
];

export function LineChart({
  series,
  title,
  max,
  format,
}: {
  series: Series[];
  title: string;
  max?: number;
  format: (v: number) => string;
}) {
  const { date } = useI18n();
  const all = series.flatMap((s) => s.points);
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const top = max ?? Math.max(1e-9, ...all.map((p) => p.v)) * 1.1;
  const x = (t: number) => PAD.l + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r));
  const y = (v: number) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const ticks = [0, 0.5, 1].map((f) => f * top);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title}>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(v)} y2={y(v)} className="grid" />
            <text x={PAD.l - 6} y={y(v) + 4} textAnchor="end" className="tick">
              {format(v)}
            </text>
          </g>
        ))}
        {all.length > 0 && (
          <text x={W - PAD.r} y={H - 6} textAnchor="end" className="tick">
            {date(t1)}
          </text>
        )}
        {series.map((s, i) => (
          <polyline
            key={s.name}
            fill="none"
            stroke={PALETTE[i % PALETTE.length]}
            strokeWidth={2}
            vectorEffect="non-scaling-stroke"
            points={s.points.map((p) => `${x(p.t)},${y(p.v)}`).join(' ')}
          />
        ))}
      </svg>
      <ul className="legend">
        {series.map((s, i) => (
          <li key={s.name}>
            <i
              className="swatch"
              style={{ background: PALETTE[i % PALETTE.length] }}
              aria-hidden="true"
            />
            {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}
