// Inference requests in flight that a client named (Xinference's request_id), so that
// POST /v1/models/{uid}/requests/{request_id}/abort can stop one from another connection.
export class InFlightRequests {
  private readonly aborts = new Map<string, () => void>();

  private static key(uid: string, requestId: string): string {
    return `${uid}\u0000${requestId}`;
  }

  /** Records a request; false when one with this id is already running for this model. Returns its release. */
  register(uid: string, requestId: string, abort: () => void): (() => void) | null {
    const key = InFlightRequests.key(uid, requestId);
    if (this.aborts.has(key)) return null;
    this.aborts.set(key, abort);
    return () => {
      if (this.aborts.get(key) === abort) this.aborts.delete(key);
    };
  }

  /** Stops the named request; false when it is not (or no longer) running. */
  abort(uid: string, requestId: string): boolean {
    const key = InFlightRequests.key(uid, requestId);
    const abort = this.aborts.get(key);
    if (!abort) return false;
    this.aborts.delete(key);
    abort();
    return true;
  }
}
