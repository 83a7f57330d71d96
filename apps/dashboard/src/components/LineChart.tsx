// A small SVG line chart of time series: y from 0 to the largest value (or `max`), x over the window
// shown. Drawn at its measured pixel width so text keeps its size; each series has its own colour,
// dash pattern, marker shape and width (lines on top of each other stay visible), named in a legend with
// its latest value. No chart library: a few paths and ticks.
import { useI18n } from '../i18n/index.tsx';
import { useMeasuredWidth } from '../chart-size.ts';
import { ChartFigure } from './ChartFigure.tsx';

export interface Series {
  name: string;
  points: Array<{ t: number; v: number }>;
}

const H = 200;
const PAD = { l: 64, r: 14, t: 12, b: 26 };
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
/** Dash patterns per series: a line hidden under another still shows through the gaps. */
export const DASHES = ['', '7 4', '2 3', '10 3 2 3', '4 4', '12 5', '1 4', '6 2 2 2'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond'] as const;

export function Marker({ i, x, y, size = 4 }: { i: number; x: number; y: number; size?: number }) {
  const colour = PALETTE[i % PALETTE.length];
  const shape = MARKERS[i % MARKERS.length];
  const common = { fill: colour, stroke: 'var(--panel)', strokeWidth: 1 };
  if (shape === 'circle') return <circle cx={x} cy={y} r={size} {...common} />;
  if (shape === 'square')
    return <rect x={x - size} y={y - size} width={size * 2} height={size * 2} {...common} />;
  if (shape === 'triangle')
    return (
      <polygon
        points={`${x},${y - size - 1} ${x + size + 1},${y + size} ${x - size - 1},${y + size}`}
        {...common}
      />
    );
  return (
    <polygon
      points={`${x},${y - size - 1} ${x + size + 1},${y} ${x},${y + size + 1} ${x - size - 1},${y}`}
      {...common}
    />
  );
}

/** The legend's sample of series `i`: a short stretch of its line with its marker. */
export function SeriesKey({ i }: { i: number }) {
  return (
    <svg width="30" height="12" aria-hidden="true" className="series-key">
      <line
        x1="1"
        x2="29"
        y1="6"
        y2="6"
        stroke={PALETTE[i % PALETTE.length]}
        strokeWidth="2"
        strokeDasharray={DASHES[i % DASHES.length] || undefined}
      />
      <Marker i={i} x={15} y={6} size={3} />
    </svg>
  );
}

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
  const { clock } = useI18n();
  const [box, width] = useMeasuredWidth<HTMLDivElement>();
  const W = Math.max(width, 200);
  const all = series.flatMap((s) => s.points);
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const top = max ?? Math.max(1e-9, ...all.map((p) => p.v)) * 1.1;
  const x = (t: number) => PAD.l + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r));
  const y = (v: number) => H - PAD.b - (Math.min(v, top) / top) * (H - PAD.t - PAD.b);
  const ticks = [0, 0.5, 1].map((f) => f * top);
  // Earlier series are drawn wider, so where lines coincide each one still shows around the next.
  const under = (i: number) => 2 + Math.min(3, series.length - 1 - i) * 1.5;
  // Markers on every point while there are few, else on about 8 spread along the line and the last.
  const marked = (n: number, k: number) => n <= 12 || k === n - 1 || k % Math.ceil(n / 8) === 0;
  return (
    <ChartFigure
      title={title}
      box={box}
      size={width > 0 ? { width: W, height: H } : null}
      legend={series.map((s, i) => (
        <li key={s.name}>
          <SeriesKey i={i} />
          {s.name}
          {s.points.length > 0 && (
            <span className="muted">{format(s.points[s.points.length - 1]!.v)}</span>
          )}
        </li>
      ))}
    >
      {ticks.map((v) => (
        <g key={v}>
          <line x1={PAD.l} x2={W - PAD.r} y1={y(v)} y2={y(v)} className="grid" />
          <text x={PAD.l - 6} y={y(v) + 4} textAnchor="end" className="tick">
            {format(v)}
          </text>
        </g>
      ))}
      {all.length > 0 && (
        <>
          <text x={PAD.l} y={H - 6} textAnchor="start" className="tick">
            {clock(t0)}
          </text>
          <text x={W - PAD.r} y={H - 6} textAnchor="end" className="tick">
            {clock(t1)}
          </text>
        </>
      )}
      {series.map((s, i) => (
        <g key={s.name} data-series={s.name}>
          <polyline
            fill="none"
            stroke={PALETTE[i % PALETTE.length]}
            strokeWidth={under(i)}
            strokeDasharray={DASHES[i % DASHES.length] || undefined}
            points={s.points.map((p) => `${x(p.t)},${y(p.v)}`).join(' ')}
          />
          {s.points.map((p, k) =>
            marked(s.points.length, k) ? (
              <Marker key={k} i={i} x={x(p.t)} y={y(p.v)} size={1.5 + under(i)} />
            ) : null,
          )}
        </g>
      ))}
    </ChartFigure>
  );
}
