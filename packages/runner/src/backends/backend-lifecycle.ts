// The lifecycle every backend reports through Backend.state() and failure(): loading, ready,
// failed or stopped, and why it failed.
import type { BackendState } from '../backend.ts';

export abstract class BackendLifecycle {
  protected current: BackendState = 'loading';
  protected why: string | null = null;

  state(): BackendState {
    return this.current;
  }
  failure(): string | null {
    return this.why;
  }

  /** A load that threw, or an engine or process that died: reported until the runner restarts. */
  protected fail(why: string): void {
    this.current = 'failed';
    this.why = why;
  }
}
