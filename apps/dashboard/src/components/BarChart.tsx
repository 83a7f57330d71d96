// Grouped horizontal bars: one group per benchmark run, one bar per measure (e.g. mean and p99), with
// the value at the end of each bar. Drawn at its measured pixel width so text keeps its size, and
// sized to the number of rows.
import { useMeasuredWidth } from '../chart-size.ts';
import { ChartFigure } from './ChartFigure.tsx';
import { PALETTE } from './LineChart.tsx';

export interface BarGroup {
  label: string;
  values: number[];
}

const ROW = 22;
const VALUE_W = 84;

export function BarChart({
  title,
  measures,
  groups,
  format,
}: {
  title: string;
  measures: string[];
  groups: BarGroup[];
  format: (v: number) => string;
}) {
  const [box, width] = useMeasuredWidth<HTMLDivElement>();
  const W = Math.max(width, 240);
  // Narrow (a phone) or long labels: each group's label on its own line above its bars.
  const longest = Math.max(0, ...groups.map((g) => g.label.length));
  const stacked = W < 520 || longest * 7 > Math.min(260, Math.round(W * 0.32)) - 8;
  const labelW = stacked ? 0 : Math.min(260, Math.round(W * 0.32));
  const labelH = stacked ? 18 : 0;
  const top = Math.max(1e-9, ...groups.flatMap((g) => g.values));
  const groupH = labelH + measures.length * ROW + 10;
  const H = groups.length * groupH + 4;
  const barMax = W - labelW - VALUE_W - 8;
  const width_ = (v: number) => (Math.max(0, v) / top) * barMax;
  return (
    <ChartFigure
      title={title}
      box={box}
      size={width > 0 ? { width: W, height: H } : null}
      legend={measures.map((m, i) => (
        <li key={m}>
          <i
            className="swatch"
            style={{ background: PALETTE[i % PALETTE.length] }}
            aria-hidden="true"
          />
          {m}
        </li>
      ))}
    >
      {groups.map((g, gi) => (
        <g key={g.label + gi} transform={`translate(0 ${gi * groupH + 4})`}>
          <text
            x={stacked ? 0 : labelW - 8}
            y={stacked ? 12 : (measures.length * ROW) / 2 + 4}
            textAnchor={stacked ? 'start' : 'end'}
            className="tick tick-label"
          >
            {g.label}
          </text>
          {g.values.map((v, mi) => (
            <g key={mi}>
              <rect
                x={labelW}
                y={labelH + mi * ROW}
                width={width_(v)}
                height={ROW - 5}
                rx={3}
                fill={PALETTE[mi % PALETTE.length]}
              />
              <text x={labelW + width_(v) + 6} y={labelH + mi * ROW + ROW - 9} className="tick">
                {format(v)}
              </text>
            </g>
          ))}
        </g>
      ))}
    </ChartFigure>
  );
}
