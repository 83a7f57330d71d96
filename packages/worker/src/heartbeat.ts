// Tells the server what this worker has, over Redis pub/sub: a heartbeat (devices and every
// replica's state) on a timer and right after any change, replica updates, and runners' log lines.
// Publishing fails fast while Redis is away; the next heartbeat carries the whole state again.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Device, Heartbeat, WorkerReport } from '@pagoda/protocol';
import type { ReplicaManager } from './replica-manager.ts';

export interface WorkerIdentity {
  worker_id: string;
  host: string;
  address: string;
  started_at: string;
}

export class Heartbeater {
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private stopped = false;
  private devices: Device[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly channel: string,
    private readonly identity: WorkerIdentity,
    private readonly replicaManager: ReplicaManager,
    private readonly discover: () => Promise<Device[]>,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    replicaManager.on('update', (replica) => {
      void this.publish({ type: 'replica', worker_id: identity.worker_id, replica });
      this.beatSoon();
    });
    replicaManager.on('logs', (replicaId, modelUid, lines) => {
      void this.publish({ type: 'logs', worker_id: identity.worker_id, replica_id: replicaId, model_uid: modelUid, lines });
    });
  }

  async start(): Promise<void> {
    await this.beat();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.soon);
  }

  heartbeat(): Heartbeat {
    return { type: 'heartbeat', ...this.identity, devices: this.devices, replicas: this.replicaManager.snapshot(), sent_at: new Date().toISOString() };
  }

  private beatSoon(): void {
    if (this.soon || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.publish(this.heartbeat());
    }, 50);
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      this.devices = await this.discover();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'device discovery failed; reporting the last inventory');
    }
    await this.publish(this.heartbeat());
    if (!this.stopped) this.timer = setTimeout(() => void this.beat(), this.intervalMs);
  }

  private async publish(report: WorkerReport): Promise<void> {
    try {
      await this.redis.publish(this.channel, JSON.stringify(report));
    } catch (err) {
      this.log.debug({ err: (err as Error).message, type: report.type }, 'report not sent (Redis unreachable)');
    }
  }
}
