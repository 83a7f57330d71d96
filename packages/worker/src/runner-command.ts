// The command line that starts one runner for a launch job: `pagoda serve <model> --port P ...` with
// the engine kwargs as vLLM-style flags, the CPU engine when no GPU was given, and its environment.
import { fileURLToPath } from 'node:url';
import { RUNNER_ENGINE_KWARGS, type LaunchJob } from '@pagoda/protocol';

export const DEFAULT_RUNNER_COMMAND = [fileURLToPath(new URL('../../../bin/pagoda', import.meta.url)), 'serve'];

/** Engine kwargs the runner takes as flags; request_limits is the proxy's, not the runner's. */
const FLAG_KWARGS = [
  ...RUNNER_ENGINE_KWARGS,
  'quantization',
  'chat_template',
  'tool_call_parser',
  'enable_auto_tool_choice',
  'reasoning_parser',
] as const;

const BACKEND_BY_ENGINE: Record<string, string> = { builtin: 'builtin', vllm: 'vllm', 'llama.cpp': 'llamacpp' };

export interface RunnerCommandInput {
  job: LaunchJob;
  modelPath: string;
  host: string;
  port: number;
  /** argv prefix that starts a runner (default: bin/pagoda serve). */
  command?: string[];
  /** Extra flags appended to every runner (PAGODA_RUNNER_EXTRA_ARGS). */
  extraArgs?: string[];
  /** True when the worker's GPUs are declared (no real device): use the CPU engine. */
  declaredGpus?: boolean;
}

export function runnerArgv(input: RunnerCommandInput): string[] {
  const { job } = input;
  const argv = [...(input.command ?? DEFAULT_RUNNER_COMMAND), input.modelPath];
  argv.push('--host', input.host, '--port', String(input.port), '--served-model-name', job.model_uid);
  const backend = BACKEND_BY_ENGINE[job.engine];
  if (backend && backend !== 'builtin') argv.push('--backend', backend);
  // builtin and llama.cpp: the CPU without a real GPU; otherwise llama.cpp offloads every layer.
  if (backend === 'builtin' || backend === 'llamacpp') argv.push('--device', job.gpu_idx.length === 0 || input.declaredGpus ? 'cpu' : 'cuda');
  for (const key of FLAG_KWARGS) {
    const value = job.engine_kwargs[key];
    if (value === undefined || value === null) continue;
    const flag = `--${key.replace(/_/g, '-')}`;
    if (key === 'enable_prefix_caching') argv.push(value ? flag : '--no-enable-prefix-caching');
    else if (typeof value === 'boolean') {
      if (value) argv.push(flag);
    } else argv.push(flag, String(value));
  }
  return [...argv, ...(input.extraArgs ?? [])];
}

/** Levels that would hide the runner's info lines the replica manager reads load progress from. */
const QUIET_LEVELS = new Set(['warn', 'error', 'fatal', 'silent']);

/**
 * The runner's environment: only its GPUs visible (none for the CPU engine), a log level of at
 * least info, since its output goes to the worker (progress, log stream), not to a terminal, and the
 * replica's secret as PAGODA_SERVE_API_KEY (in the environment, where `ps` does not show it to other
 * users); the platform's keys are left out.
 */
export function runnerEnv(job: LaunchJob, base: NodeJS.ProcessEnv, declaredGpus: boolean): NodeJS.ProcessEnv {
  const visible = job.gpu_idx.length === 0 || declaredGpus ? '' : job.gpu_idx.join(',');
  const level = base.PAGODA_LOG_LEVEL && !QUIET_LEVELS.has(base.PAGODA_LOG_LEVEL) ? base.PAGODA_LOG_LEVEL : 'info';
  return {
    ...base,
    CUDA_VISIBLE_DEVICES: visible,
    PAGODA_REPLICA_ID: job.replica_id,
    PAGODA_MODEL_UID: job.model_uid,
    PAGODA_LOG_LEVEL: level,
    PAGODA_CHAT_TEMPLATE_ADVICE: chatTemplateAdvice(job),
    PAGODA_SERVE_API_KEY: job.runner_secret ?? undefined,
    // The platform's own keys are not the runner's business (a vllm or llama.cpp child inherits them).
    PAGODA_ADMIN_KEY: undefined,
    PAGODA_API_KEY: undefined,
  };
}

/**
 * What a chat client of a replica without a chat template should do on the platform: the template
 * belongs to the registration (the runner's own --chat-template flag is not the user's to set here).
 */
export function chatTemplateAdvice(job: Pick<LaunchJob, 'model_uid' | 'model_name'>): string {
  const name = job.model_name ?? job.model_uid;
  const relaunch = `pagoda launch ${name}${name === job.model_uid ? '' : ` --model-uid ${job.model_uid}`}`;
  return (
    `give its registration one — \`pagoda register ${name} --update --chat-template FILE\` ` +
    `(REST: PATCH /v1/model_registrations/LLM/${name} with chat_template) — then \`pagoda terminate ${job.model_uid}\` ` +
    `and \`${relaunch}\`; or pass 'chat_template' in the request, or use /v1/completions`
  );
}

/** Splits PAGODA_RUNNER_EXTRA_ARGS on whitespace (no quoting: flags and plain values only). */
export function splitExtraArgs(value: string | undefined): string[] {
  return value?.trim() ? value.trim().split(/\s+/) : [];
}
