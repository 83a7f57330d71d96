// A listing command: flags only (--json and the connection's), its client, and how it prints what
// it fetched: JSON with --json, one line when there is nothing, else a table with a row per item.
import type { PagodaClient } from '@pagoda/client';
import type { CliIo } from './cli-io.ts';
import {
  clientFrom,
  CONNECTION_FLAGS,
  managementCommand,
  noPositionals,
  type FlagSpecs,
  type ParsedFlags,
} from './command-options.ts';
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

const LISTING_FLAGS = { ...CONNECTION_FLAGS, json: { type: 'boolean' } } as const;

type ListingValues<T extends FlagSpecs> = ParsedFlags<typeof LISTING_FLAGS & T>['values'];

/** A listing command's `run`: `flags` besides --json, no arguments; `body` gets the client to ask. */
export function listingCommand<T extends FlagSpecs>(
  name: string,
  usage: string,
  flags: T,
  body: (values: ListingValues<T>, client: PagodaClient, io: CliIo) => Promise<number>,
): (argv: string[], io?: CliIo) => Promise<number> {
  return managementCommand(
    name,
    usage,
    { ...LISTING_FLAGS, ...flags },
    async ({ values, positionals }, io) => {
      noPositionals(name, positionals);
      return body(values, clientFrom(values, io), io);
    },
  );
}
