// Prisma loads each relation of an `include` with a query of its own, outside any transaction: a row
// read just before its parent was deleted (a model terminated, a worker dropped) comes back with
// that relation null, whatever its type says. Such rows are gone and are skipped, not dereferenced.

/** The rows whose to-one relations `keys` all still exist. */
export function withLiveRelations<T, K extends keyof T>(rows: readonly T[], ...keys: K[]): T[] {
  return rows.filter((row) => keys.every((k) => (row[k] as unknown) != null));
}

/** The row when it and its to-one relations `keys` all still exist, else null. */
export function liveOrNull<T, K extends keyof T>(row: T | null, ...keys: K[]): T | null {
  return row && withLiveRelations([row], ...keys).length === 1 ? row : null;
}
