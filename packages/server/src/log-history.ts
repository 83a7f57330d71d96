// The recent runner log lines of each replica, kept in Redis as workers report them, so a dashboard
// that opens Running models starts with history (GET /v1/models/{uid}/logs), then live — also after
// the server restarts, and from whichever server answers. Bounded: lines per replica, characters per
// line, and a week since a replica's last line (or until its model is terminated).
import type { Redis } from 'ioredis';

export interface ReplicaLogs {
  replica_id: string;
  lines: string[];
  /** Lines reported for this replica, including those no longer kept. */
  total: number;
}

export class LogHistory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly maxLines = 500,
    private readonly maxLineChars = 4000,
    private readonly keepSeconds = 7 * 24 * 3600,
  ) {}

  private linesKey(replicaId: string): string {
    return `${this.prefix}:logs:${replicaId}`;
  }
  private totalKey(replicaId: string): string {
    return `${this.prefix}:logs:${replicaId}:total`;
  }
  private modelKey(uid: string): string {
    return `${this.prefix}:logs-of:${uid}`;
  }

  /** Appends a report's lines (one transaction: the lines, the count and the model's replica set move together). */
  async add(uid: string, replicaId: string, lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const kept = lines.slice(-this.maxLines).map((l) => (l.length > this.maxLineChars ? `${l.slice(0, this.maxLineChars)}…` : l));
    const key = this.linesKey(replicaId);
    await this.redis
      .multi()
      .rpush(key, ...kept)
      .ltrim(key, -this.maxLines, -1)
      .incrby(this.totalKey(replicaId), lines.length)
      .sadd(this.modelKey(uid), replicaId)
      .expire(key, this.keepSeconds)
      .expire(this.totalKey(replicaId), this.keepSeconds)
      .expire(this.modelKey(uid), this.keepSeconds)
      .exec();
  }

  /** The last `limit` lines of each of `replicaIds` that has any, in the order given. */
  async recent(replicaIds: readonly string[], limit = this.maxLines): Promise<ReplicaLogs[]> {
    if (replicaIds.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of replicaIds) pipe.lrange(this.linesKey(id), -limit, -1).get(this.totalKey(id));
    const replies = (await pipe.exec()) ?? [];
    const out: ReplicaLogs[] = [];
    replicaIds.forEach((id, i) => {
      const [linesErr, lines] = replies[2 * i] ?? [];
      const [totalErr, total] = replies[2 * i + 1] ?? [];
      if (linesErr || totalErr) throw linesErr ?? totalErr;
      if (total !== null && total !== undefined) out.push({ replica_id: id, lines: lines as string[], total: Number(total) });
    });
    return out;
  }

  /** Forgets the lines of every replica a terminated model had. */
  async forgetModel(uid: string): Promise<void> {
    const ids = await this.redis.smembers(this.modelKey(uid));
    const keys = ids.flatMap((id) => [this.linesKey(id), this.totalKey(id)]);
    await this.redis.del(this.modelKey(uid), ...keys);
  }
}
