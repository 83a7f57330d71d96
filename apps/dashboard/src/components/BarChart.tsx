// Grouped horizontal bars: one group per benchmark run, one bar per measure (e.g. mean and p99), with
// the value at the end of each bar. SVG drawn here, sized to the number of rows.
import { PALETTE } from './LineChart.tsx';

export interface BarGroup {
  label: string;
  values: number[];
}

const W = 640;
const ROW = 20;
const LABEL_W = 200;

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
  const top = Math.max(1e-9, ...groups.flatMap((g) => g.values));
  const groupH = measures.length * ROW + 10;
  const H = groups.length * groupH + 4;
  const width = (v: number) => (Math.max(0, v) / top) * (W - LABEL_W - 80);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title}>
        {groups.map((g, gi) => (
          <g key={g.label + gi} transform={`translate(0 ${gi * groupH + 4})`}>
            <text
              x={LABEL_W - 8}
              y={(measures.length * ROW) / 2 + 4}
              textAnchor="end"
              className="tick"
            >
              {g.label}
            </text>
            {g.values.map((v, mi) => (
              <g key={mi}>
                <rect
                  x={LABEL_W}
                  y={mi * ROW}
                  width={width(v)}
                  height={ROW - 4}
                  rx={3}
                  fill={PALETTE[mi % PALETTE.length]}
                />
                <text x={LABEL_W + width(v) + 6} y={mi * ROW + ROW - 7} className="tick">
                  {format(v)}
                </text>
              </g>
            ))}
          </g>
        ))}
      </svg>
      <ul className="legend">
        {measures.map((m, i) => (
          <li key={m}>
            <i
              className="swatch"
              style={{ background: PALETTE[i % PALETTE.length] }}
              aria-hidden="true"
            />
            {m}
          </li>
        ))}
      </ul>
    </figure>
  );
}
