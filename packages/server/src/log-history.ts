// The recent runner log lines of each replica, kept in this server's memory as workers report them, so
// a dashboard that opens Running models starts with history (GET /v1/models/{uid}/logs), then live.
// Bounded: lines per replica, characters per line, and replicas remembered (the oldest forgotten).

export interface ReplicaLogs {
  replica_id: string;
  lines: string[];
  /** Lines reported for this replica since the server started, including those no longer kept. */
  total: number;
}

export class LogHistory {
  private readonly byReplica = new Map<string, { uid: string; lines: string[]; total: number }>();

  constructor(
    readonly maxLines = 500,
    private readonly maxReplicas = 256,
    private readonly maxLineChars = 4000,
  ) {}

  add(uid: string, replicaId: string, lines: readonly string[]): void {
    let entry = this.byReplica.get(replicaId);
    if (entry) this.byReplica.delete(replicaId); // re-inserted below: Map order is least recently written first
    else entry = { uid, lines: [], total: 0 };
    entry.uid = uid;
    for (const line of lines) entry.lines.push(line.length > this.maxLineChars ? `${line.slice(0, this.maxLineChars)}…` : line);
    entry.total += lines.length;
    if (entry.lines.length > this.maxLines) entry.lines.splice(0, entry.lines.length - this.maxLines);
    this.byReplica.set(replicaId, entry);
    while (this.byReplica.size > this.maxReplicas) this.byReplica.delete(this.byReplica.keys().next().value!);
  }

  /** The last `limit` lines of each of `replicaIds` that has any, in the order given. */
  recent(replicaIds: readonly string[], limit = this.maxLines): ReplicaLogs[] {
    const out: ReplicaLogs[] = [];
    for (const id of replicaIds) {
      const entry = this.byReplica.get(id);
      if (entry) out.push({ replica_id: id, lines: entry.lines.slice(-limit), total: entry.total });
    }
    return out;
  }

  /** Forgets replicas no longer launched (called with the live ids after a terminate). */
  forgetModel(uid: string): void {
    for (const [id, entry] of this.byReplica) if (entry.uid === uid) this.byReplica.delete(id);
  }
}
