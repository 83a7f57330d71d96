// `pagoda list`: the launched models, their engines and how many replicas are ready.
import { CONNECTION_HELP } from '../command-options.ts';
import type { ModelView } from '@pagoda/protocol';
import { listingCommand, printListing } from '../list-output.ts';

const USAGE = `usage: pagoda list [--json]

Lists launched models.
${CONNECTION_HELP}
`;

export const run = listingCommand('list', USAGE, {}, async (values, client, io) => {
  const models = await client.listModels();
  printListing(io, models, {
    json: values.json,
    empty: 'No models are launched. Start one with `pagoda launch <model_name>`.\n',
    headers: ['UID', 'MODEL', 'ENGINE', 'FORMAT', 'SIZE (B)', 'QUANT', 'READY', 'STATUS'],
    row: (m) => {
      const ready = (m.replicas ?? []).filter((r) => r.status === 'ready').length;
      return [
        m.model_uid,
        m.model_name,
        m.model_engine,
        m.model_format,
        m.model_size_in_billions,
        m.quantization,
        `${ready}/${m.replica}`,
        m.status,
      ];
    },
  });
  if (!values.json) for (const line of failureReasons(models)) io.out(`${line}\n`);
  return 0;
});

/** One line per model that failed or has a recorded error (its own or a replica's), with the reason. */
export function failureReasons(models: readonly ModelView[]): string[] {
  const lines: string[] = [];
  for (const m of models) {
    const failedReplicas = (m.replicas ?? []).filter((r) => r.last_error && r.status !== 'ready');
    if (m.status !== 'failed' && !m.last_error && failedReplicas.length === 0) continue;
    const reasons = new Set<string>();
    if (m.last_error) reasons.add(reasonLine(m.last_error));
    for (const r of failedReplicas)
      reasons.add(`replica ${r.index} (${r.status}): ${reasonLine(r.last_error!)}`);
    if (reasons.size === 0) reasons.add('no reason was recorded; see the worker log');
    lines.push(`${m.model_uid} ${m.status}: ${[...reasons].join('; ')}`);
  }
  return lines;
}

/**
 * The last non-empty line of a log excerpt (where a runner's error ends up), a JSON log line read as
 * its message, at most 300 characters.
 */
export function reasonLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  let line = lines[lines.length - 1] ?? text.trim();
  if (line.startsWith('{')) {
    try {
      const entry = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
      const msg = [entry.msg, entry.err?.message].filter((x) => typeof x === 'string' && x !== '');
      if (msg.length > 0) line = msg.join(': ');
    } catch {
      // not a log record: the line as it is
    }
  }
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
