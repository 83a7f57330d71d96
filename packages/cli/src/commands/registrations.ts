// `pagoda registrations`: the models that can be launched, built-in and custom.
import { parseArgs } from 'node:util';
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  processIo,
  runCommand,
  UsageError,
  type CliIo,
} from '../cli-io.ts';
import { formatTable } from '../format/table.ts';

const USAGE = `usage: pagoda registrations [--custom] [--model-type TYPE] [--json]

Lists the models that can be launched: the built-in catalog and custom registrations.
  --custom    only custom registrations
${CONNECTION_HELP}
`;

interface Spec {
  model_format?: string;
  model_size_in_billions?: number | string;
}

function source(r: Record<string, unknown>): string {
  if (typeof r.source === 'string') return r.source;
  if (typeof r.is_builtin === 'boolean') return r.is_builtin ? 'builtin' : 'custom';
  return '-';
}

/** "safetensors 1.5/7B, gguf 7B": formats with their sizes. */
function specSummary(specs: unknown): string {
  if (!Array.isArray(specs)) return '-';
  const byFormat = new Map<string, Set<string>>();
  for (const s of specs as Spec[]) {
    const f = s.model_format ?? '?';
    byFormat.set(
      f,
      (byFormat.get(f) ?? new Set()).add(String(s.model_size_in_billions ?? '?').replace('_', '.')),
    );
  }
  return [...byFormat].map(([f, sizes]) => `${f} ${[...sizes].join('/')}B`).join(', ');
}

export async function run(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCommand('registrations', USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_FLAGS,
        custom: { type: 'boolean' },
        'model-type': { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length > 0)
      throw new UsageError(`registrations takes no arguments; got ${positionals.join(' ')}`);
    let list = await clientFrom(values, io).registrations(values['model-type'] ?? 'LLM');
    if (values.custom) list = list.filter((r) => source(r) === 'custom');
    if (values.json) {
      io.out(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    const rows = list.map((r) => [
      String(r.model_name ?? '-'),
      source(r),
      Array.isArray(r.model_ability) ? r.model_ability.join(',') : '-',
      typeof r.context_length === 'number' ? r.context_length : null,
      Array.isArray(r.model_specs)
        ? specSummary(r.model_specs)
        : typeof r.model_family === 'string'
          ? r.model_family
          : null,
    ]);
    io.out(formatTable(['MODEL', 'SOURCE', 'ABILITIES', 'CONTEXT', 'FAMILY / FORMATS'], rows));
    return 0;
  });
}
