// `pagoda plan <model> [launch flags]`: the memory plan of a launch without launching: per GPU
// weights / activations / CUDA graphs / KV cache / free, or why it cannot fit and what would.
import { PagodaApiError } from '@pagoda/client';
import type { GpuPlan, MemoryPlan, PlanResponse, ReplicaPlan } from '@pagoda/protocol';
import { clientFrom, managementCommand } from '../command-options.ts';
import { formatBytes } from '../format/bytes.ts';
import { formatTable } from '../format/table.ts';
import { LAUNCH_FLAGS, LAUNCH_FLAGS_HELP, launchBody, type LaunchValues } from '../launch-flags.ts';

const USAGE = `usage: pagoda plan <model_name> [launch flags] [--json]

Shows how a launch would use GPU memory, without launching. Exit code 0 when it fits, 1 when not.

${LAUNCH_FLAGS_HELP}
`;

type GpuRow = Partial<GpuPlan>;

/**
 * The plan as this command shows it: the server's MemoryPlan, or its answer around it when there is
 * none (a CPU placement: replicas with gpu_idx and bytes_per_device), read field by field.
 */
type ShownPlan = Partial<Omit<MemoryPlan, 'replicas'>> & {
  replicas?: Array<Partial<ReplicaPlan> & Partial<PlanResponse['replicas'][number]>>;
};

const HEADERS = [
  'REPLICA',
  'WORKER',
  'GPU',
  'TOTAL',
  'WEIGHTS',
  'ACTIVATIONS',
  'CUDA GRAPHS',
  'KV CACHE',
  'KV TOKENS',
  'CLAIM',
  'FREE AFTER',
];

function gpuCells(replica: string, g: GpuRow): Array<string | number | null | undefined> {
  return [
    replica,
    g.worker,
    g.index,
    formatBytes(g.total),
    formatBytes(g.weights),
    formatBytes(g.activations),
    formatBytes(g.cuda_graphs),
    formatBytes(g.kv_cache),
    g.kv_cache_tokens,
    formatBytes(g.claim),
    formatBytes(g.free_after),
  ];
}

/** The plan as text: the verdict, the per-GPU table, and on refusal the settings that would fit. */
export function renderPlan(plan: ShownPlan): string {
  let out = `${plan.message ?? (plan.fits ? 'fits' : 'does not fit')}\n`;
  const rows = (plan.replicas ?? []).flatMap((r) =>
    (r.gpus ?? []).map((g) => gpuCells(String(r.replica ?? '-'), g)),
  );
  if (plan.breakdown) rows.push(gpuCells('(roomiest GPU)', plan.breakdown));
  if (rows.length > 0) out += `\n${formatTable(HEADERS, rows)}`;
  // Replicas placed without a GPU breakdown (the CPU engine): where, and what each claims.
  const bare = (plan.replicas ?? []).filter((r) => !r.gpus && r.bytes_per_device !== undefined);
  if (bare.length > 0) {
    out += `\n${formatTable(
      ['REPLICA', 'WORKER', 'DEVICE', 'CLAIM'],
      bare.map((r, i) => [
        i,
        r.worker,
        r.gpu_idx && r.gpu_idx.length > 0 ? `GPU ${r.gpu_idx.join(',')}` : 'cpu',
        formatBytes(r.bytes_per_device),
      ]),
    )}`;
  }
  if (plan.settings) {
    const s = plan.settings;
    out += `\nmax_model_len ${s.max_model_len}, max_num_seqs ${s.max_num_seqs}, max_num_batched_tokens ${s.max_num_batched_tokens}, gpu_memory_utilization ${s.gpu_memory_utilization}, tensor_parallel_size ${s.tensor_parallel_size}, dtype ${s.dtype}, KV ${formatBytes(plan.kv_bytes_per_token)}/token per GPU\n`;
  }
  if (!plan.fits && plan.suggestions && plan.suggestions.length > 0) {
    out += '\nWould fit with:\n';
    for (const s of plan.suggestions)
      out += `  --${s.setting.replace(/_/g, '-')} ${s.value}    (${s.message})\n`;
  }
  return out;
}

export const run = managementCommand(
  'plan',
  USAGE,
  { ...LAUNCH_FLAGS, json: { type: 'boolean' } },
  async ({ values, positionals }, io) => {
    const body = launchBody(values as LaunchValues, positionals);
    let answer: ShownPlan & { plan?: MemoryPlan | null };
    try {
      answer = await clientFrom(values, io).plan(body);
    } catch (err) {
      // A refusal may come as an error status that still carries the plan.
      const carried =
        err instanceof PagodaApiError
          ? (err.body as { plan?: MemoryPlan } | null)?.plan
          : undefined;
      if (!carried) throw err;
      answer = { ...carried, plan: carried };
    }
    // The server wraps the planner's plan (per-GPU numbers) with its verdict; CPU placements have none.
    const plan: ShownPlan = answer.plan
      ? {
          ...answer.plan,
          fits: answer.fits ?? answer.plan.fits,
          message: answer.message ?? answer.plan.message,
        }
      : answer;
    if (values.json) io.out(`${JSON.stringify(plan, null, 2)}\n`);
    else io.out(renderPlan(plan));
    return plan.fits ? 0 : 1;
  },
);
