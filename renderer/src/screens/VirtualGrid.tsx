/**
 * A grid that puts only the rows in view into the DOM: fixed row height, a
 * body as tall as all rows would be, and the visible slice moved down to
 * the scroll position. 100,000 rows cost what 40 do. Keyboard: arrows,
 * Page Up/Down, Home/End move the selection and keep it in view.
 */
import { useLayoutEffect, useRef, useState, type ReactNode } from 'react';

export const ROW_HEIGHT = 28;
const OVERSCAN = 8;

export interface Column<T> {
  readonly key: string;
  readonly title: string;
  readonly render: (row: T) => ReactNode;
  readonly className?: string;
}

export function VirtualGrid<T>(props: {
  label: string;
  columns: readonly Column<T>[];
  count: number;
  rowAt: (i: number) => T;
  rowKey: (row: T) => number;
  selectedKey: number | null;
  onSelect: (row: T) => void;
  rowClass?: (row: T) => string;
  empty: ReactNode;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);

  useLayoutEffect(() => {
    const el = scroller.current!;
    const ro = new ResizeObserver(() => setViewport(el.clientHeight));
    ro.observe(el);
    setViewport(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // When the rows shrink (a filter), the browser clamps the scroll position and
  // reports it with a scroll event; until then, clamp here. Reading el.scrollTop
  // instead would force a layout on every render.
  const top = Math.max(0, Math.min(scrollTop, props.count * ROW_HEIGHT - viewport + ROW_HEIGHT));
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(props.count, Math.ceil((top + viewport) / ROW_HEIGHT) + OVERSCAN);
  const template = { gridTemplateColumns: props.columns.map((c) => `var(--col-${c.key})`).join(' ') };

  const selectedIndex = (): number => {
    if (props.selectedKey === null) return -1;
    for (let i = first; i < last; i++) if (props.rowKey(props.rowAt(i)) === props.selectedKey) return i;
    return -1;
  };

  const move = (to: number) => {
    if (props.count === 0) return;
    const i = Math.max(0, Math.min(props.count - 1, to));
    props.onSelect(props.rowAt(i));
    const el = scroller.current!;
    const head = ROW_HEIGHT; // the sticky header covers the first row's height
    const top = i * ROW_HEIGHT;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight - head) el.scrollTop = top + ROW_HEIGHT - el.clientHeight + head;
  };

  const onKeyDown = (e: React.KeyboardEvent) => {
    const page = Math.max(1, Math.floor(viewport / ROW_HEIGHT) - 1);
    const at = selectedIndex();
    const from = at < 0 ? Math.floor(top / ROW_HEIGHT) - 1 : at;
    const to: Record<string, number> = {
      ArrowDown: from + 1,
      ArrowUp: from - 1,
      PageDown: from + page,
      PageUp: from - page,
      Home: 0,
      End: props.count - 1,
    };
    if (e.key in to) {
      e.preventDefault();
      move(to[e.key]);
    }
  };

  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    const row = props.rowAt(i);
    const key = props.rowKey(row);
    const selected = key === props.selectedKey;
    rows.push(
      // Keyed by position, not id: when new rows arrive on top, the rows in view
      // keep their DOM nodes and only their text changes.
      <div
        key={i - first}
        role="row"
        aria-rowindex={i + 2}
        aria-selected={selected}
        className={`grid-row${selected ? ' selected' : ''}${i % 2 ? ' odd' : ''} ${props.rowClass?.(row) ?? ''}`}
        style={{ ...template, transform: `translateY(${i * ROW_HEIGHT}px)` }}
        onClick={() => props.onSelect(row)}
      >
        {props.columns.map((c) => (
          <div key={c.key} role="gridcell" className={c.className}>
            {c.render(row)}
          </div>
        ))}
      </div>,
    );
  }

  return (
    <div
      ref={scroller}
      role="grid"
      aria-label={props.label}
      aria-rowcount={props.count + 1}
      aria-colcount={props.columns.length}
      tabIndex={0}
      className="grid"
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      onKeyDown={onKeyDown}
    >
      <div role="rowgroup" className="grid-head">
        <div role="row" aria-rowindex={1} className="grid-row" style={template}>
          {props.columns.map((c) => (
            <div key={c.key} role="columnheader" className={c.className}>
              {c.title}
            </div>
          ))}
        </div>
      </div>
      <div role="rowgroup" className="grid-body" style={{ height: props.count * ROW_HEIGHT }}>
        {rows}
      </div>
      {props.count === 0 && <div className="grid-empty">{props.empty}</div>}
    </div>
  );
}
