// The width a chart is drawn at, measured: charts draw in real pixels (viewBox = size), so their text
// stays at its CSS size on a phone and on a desktop instead of scaling with the SVG.
import { useLayoutEffect, useRef, useState } from 'react';

export function useMeasuredWidth<T extends HTMLElement>(): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setWidth(Math.floor(el.getBoundingClientRect().width));
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}
