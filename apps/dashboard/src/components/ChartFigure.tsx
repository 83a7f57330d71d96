// The frame every chart draws in: its caption, the box whose width it measures (the SVG appears
// once that is known, as an image named by the caption), and its legend below.
import type { ReactNode, RefObject } from 'react';

export function ChartFigure({
  title,
  box,
  size,
  legend,
  children,
}: {
  title: string;
  /** The ref useMeasuredWidth gave. */
  box: RefObject<HTMLDivElement | null>;
  /** The SVG's size; null until the box has been measured. */
  size: { width: number; height: number } | null;
  /** The legend's list items. */
  legend: ReactNode;
  children: ReactNode;
}) {
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} className="chart-box">
        {size && (
          <svg
            width={size.width}
            height={size.height}
            viewBox={`0 0 ${size.width} ${size.height}`}
            role="img"
            aria-label={title}
          >
            {children}
          </svg>
        )}
      </div>
      <ul className="legend">{legend}</ul>
    </figure>
  );
}
