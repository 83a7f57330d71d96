// Which replicas serve each model uid right now, and how busy each is: the proxy picks the
// least-loaded ready replica; one that fails is out of rotation until it proves healthy again.
export interface Endpoint {
  replicaId: string;
  modelUid: string;
  /** http://address:port */
  url: string;
  /** The bearer secret the replica's runner accepts (null: a replica placed before runners had one). */
  secret?: string | null;
}

export class RouteTable {
  private byModel = new Map<string, Endpoint[]>();
  /** Every launched model uid and its request_limits (null: none), so the proxy needs no query. */
  private limits = new Map<string, number | null>();
  /** Launched model uids scaled to 0 replicas: they serve nothing on purpose. */
  private stopped: ReadonlySet<string> = new Set();
  private readonly inflight = new Map<string, number>();
  private readonly benched = new Map<string, number>();
  private readonly modelInflight = new Map<string, number>();

  constructor(private readonly benchMs = 5_000) {}

  /** Replaces the table with the ready replicas and the launched models the database lists. */
  replace(endpoints: Endpoint[], limits: Map<string, number | null> = new Map(), stopped: ReadonlySet<string> = new Set()): void {
    const next = new Map<string, Endpoint[]>();
    for (const e of endpoints) next.set(e.modelUid, [...(next.get(e.modelUid) ?? []), e]);
    this.byModel = next;
    this.limits = limits;
    this.stopped = stopped;
  }

  /** Whether a launched model is scaled to 0 replicas (as of the last refresh). */
  isStopped(uid: string): boolean {
    return this.stopped.has(uid);
  }

  /** request_limits of a launched model (null: none); undefined when the table does not know it. */
  limitOf(uid: string): number | null | undefined {
    return this.limits.get(uid);
  }

  models(): string[] {
    return [...this.byModel.keys()];
  }

  endpoints(uid: string): Endpoint[] {
    return this.byModel.get(uid) ?? [];
  }

  all(): Endpoint[] {
    return [...this.byModel.values()].flat();
  }

  /** The least-loaded endpoint of `uid` that is not benched and not in `skip`. */
  pick(uid: string, skip: ReadonlySet<string> = new Set()): Endpoint | null {
    const now = Date.now();
    let best: Endpoint | null = null;
    for (const e of this.endpoints(uid)) {
      if (skip.has(e.replicaId) || (this.benched.get(e.replicaId) ?? 0) > now) continue;
      if (!best || (this.inflight.get(e.replicaId) ?? 0) < (this.inflight.get(best.replicaId) ?? 0)) best = e;
    }
    return best;
  }

  bench(replicaId: string): void {
    this.benched.set(replicaId, Date.now() + this.benchMs);
  }

  modelLoad(uid: string): number {
    return this.modelInflight.get(uid) ?? 0;
  }

  /** Counts a request against its replica and model; the returned function ends it. */
  begin(e: Endpoint): () => void {
    this.inflight.set(e.replicaId, (this.inflight.get(e.replicaId) ?? 0) + 1);
    this.modelInflight.set(e.modelUid, (this.modelInflight.get(e.modelUid) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inflight.set(e.replicaId, (this.inflight.get(e.replicaId) ?? 1) - 1);
      this.modelInflight.set(e.modelUid, (this.modelInflight.get(e.modelUid) ?? 1) - 1);
    };
  }
}
