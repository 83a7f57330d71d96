// A table that shows each row as a small card on phones (.table-stack in styles.css): a header row
// of column names, which each row's cells repeat as their data-label; or a note when there are none.
import type { ReactNode } from 'react';

export function StackTable<Row>({
  columns,
  action,
  caption,
  className,
  rows,
  empty,
  row,
}: {
  columns: readonly string[];
  /** A last column of buttons: its name, for screen readers only. */
  action?: string;
  caption?: string;
  /** Classes besides table-stack. */
  className?: string;
  /** None yet (loading, or the load failed): nothing is shown. */
  rows: readonly Row[] | null | undefined;
  /** Shown instead of the table when there are no rows; without it, an empty table shows its head. */
  empty?: string;
  row: (item: Row) => ReactNode;
}) {
  if (!rows) return null;
  if (rows.length === 0 && empty !== undefined) return <p className="muted">{empty}</p>;
  return (
    <div className="table-wrap">
      <table className={className ? `table-stack ${className}` : 'table-stack'}>
        {caption !== undefined && <caption>{caption}</caption>}
        <thead>
          <tr>
            {columns.map((c, i) => (
              // The columns are fixed, and two may read the same in some language.
              <th key={i} scope="col">
                {c}
              </th>
            ))}
            {action !== undefined && (
              <th scope="col">
                <span className="sr-only">{action}</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>{rows.map((r) => row(r))}</tbody>
      </table>
    </div>
  );
}
