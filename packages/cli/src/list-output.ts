// How a listing command prints what it fetched: JSON with --json, one line when there is nothing,
// else a table with a row per item.
import type { CliIo } from './cli-io.ts';
import { formatTable } from './format/table.ts';

type Cell = string | number | null | undefined;

export interface Listing<T> {
  json: boolean | undefined;
  headers: readonly string[];
  row(item: T): readonly Cell[];
  /** Printed for an empty list; without it an empty list prints the headers alone. */
  empty?: string;
}

/** Prints `items` as the listing says; the command's exit code (0). */
export function printListing<T>(io: CliIo, items: readonly T[], listing: Listing<T>): number {
  if (listing.json) io.out(`${JSON.stringify(items, null, 2)}\n`);
  else if (items.length === 0 && listing.empty !== undefined) io.out(listing.empty);
  else io.out(formatTable(listing.headers, items.map(listing.row)));
  return 0;
}
