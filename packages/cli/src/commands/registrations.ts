// `pagoda registrations`: the models that can be launched, built-in and custom.
import { CONNECTION_HELP } from '../command-options.ts';
import { listingCommand, printListing } from '../list-output.ts';

const USAGE = `usage: pagoda registrations [--custom] [-t|--model-type TYPE] [--json]

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

export const run = listingCommand(
  'registrations',
  USAGE,
  { custom: { type: 'boolean' }, 'model-type': { type: 'string', short: 't' } },
  async (values, client, io) => {
    // Pagoda lists summaries; other servers may list whole families (model_specs), read the same here.
    let list: Array<Record<string, unknown>> = (await client.registrations(
      values['model-type'] ?? 'LLM',
    )) as unknown as Array<Record<string, unknown>>;
    if (values.custom) list = list.filter((r) => source(r) === 'custom');
    return printListing(io, list, {
      json: values.json,
      headers: ['MODEL', 'SOURCE', 'ABILITIES', 'CONTEXT', 'FAMILY / FORMATS'],
      row: (r) => [
        String(r.model_name ?? '-'),
        source(r),
        Array.isArray(r.model_ability) ? r.model_ability.join(',') : '-',
        typeof r.context_length === 'number' ? r.context_length : null,
        Array.isArray(r.model_specs)
          ? specSummary(r.model_specs)
          : typeof r.model_family === 'string'
            ? r.model_family
            : null,
      ],
    });
  },
);
