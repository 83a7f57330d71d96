// Everything the routes share, owned in one place: database, job queues, launcher, reconcile loop,
// route table, event hub, metrics.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Database } from '@pagoda/db';
import type { EventHub } from './events.ts';
import type { JobQueues } from './job-queues.ts';
import type { Launcher } from './launcher.ts';
import type { LogHistory } from './log-history.ts';
import type { PlatformMetrics } from './metrics.ts';
import type { Reconciler } from './reconcile.ts';
import type { RouteTable } from './route-table.ts';

export interface Platform {
  db: Database;
  redis: Redis;
  log: Logger;
  queues: JobQueues;
  launcher: Launcher;
  reconciler: Reconciler;
  table: RouteTable;
  hub: EventHub;
  /** Recent runner log lines per replica, for GET /v1/models/{uid}/logs. */
  logs: LogHistory;
  metrics: PlatformMetrics;
}
