// Follows a launch until it is ready or failed, drawing a progress bar from
// GET /v1/models/{uid}/progress (and the model's status when the progress answer has none).
import { PagodaApiError, type LaunchProgress, type PagodaClient } from '@pagoda/client';
import type { CliIo } from './cli-io.ts';
import { ProgressLine } from './format/progress-bar.ts';

export interface WaitOptions {
  timeoutS: number;
  intervalMs: number;
}

function label(p: LaunchProgress, status: string): string {
  const replicas = p.replicas ?? [];
  const ready = replicas.filter((r) => r.status === 'ready').length;
  const phases = [...new Set(replicas.map((r) => r.phase ?? r.status).filter(Boolean))];
  const phase = p.phase ?? (phases.length > 0 ? phases.join(', ') : null);
  const count = replicas.length > 1 ? `, ${ready}/${replicas.length} replicas ready` : '';
  return `${status}${phase && phase !== status ? ` (${phase})` : ''}${count}`;
}

/** 0 when the model became ready, 1 when it failed, vanished or the wait timed out. */
export async function waitReady(
  client: PagodaClient,
  uid: string,
  io: CliIo,
  opts: WaitOptions,
): Promise<number> {
  const bar = new ProgressLine(io.out, io.isTTY);
  const deadline = Date.now() + opts.timeoutS * 1000;
  let lastStatus = 'pending';
  let lastError: string | null = null;
  while (Date.now() < deadline) {
    try {
      const p = await client.progress(uid);
      let status = p.status;
      if (!status) {
        const model = await client.getModel(uid);
        status = model.status;
        lastError = model.last_error;
      }
      lastStatus = status;
      lastError = p.last_error ?? p.replicas?.find((r) => r.last_error)?.last_error ?? lastError;
      if (status === 'ready') {
        bar.update(1, 'ready');
        bar.finish();
        io.out(
          `Model ${uid} is ready: send requests with "model": "${uid}" to ${client.endpoint}/v1\n`,
        );
        return 0;
      }
      if (status === 'failed') {
        bar.update(p.progress, 'failed');
        bar.finish();
        io.err(`Model ${uid} failed to start${lastError ? `: ${lastError}` : ''}\n`);
        return 1;
      }
      bar.update(p.progress, label(p, status));
    } catch (err) {
      if (err instanceof PagodaApiError && err.status === 404) {
        bar.finish();
        io.err(`Model ${uid} is gone (terminated or cancelled while starting): ${err.message}\n`);
        return 1;
      }
      // The server may be restarting: keep following until the deadline.
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
  bar.finish();
  io.err(
    `Model ${uid} is still ${lastStatus} after ${opts.timeoutS} s${lastError ? ` (last error: ${lastError})` : ''}; follow it with \`pagoda list\`\n`,
  );
  return 1;
}
