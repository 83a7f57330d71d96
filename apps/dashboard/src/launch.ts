// The launch form as data: its fields, the POST /v1/models body they make, and the same launch as a
// `pagoda launch` command line. Pure functions, so a test can check them without a browser.
export interface LaunchForm {
  model_uid: string;
  model_engine: string;
  model_format: string;
  model_size_in_billions: string;
  quantization: string;
  replica: string;
  n_gpu: string; // 'auto' | '0' | N
  worker_ip: string;
  gpu_idx: string;
  /** Empty: auto (1, or what the plan suggests when GPUs per replica is auto). */
  tensor_parallel_size: string;
  gpu_memory_utilization: string;
  max_model_len: string;
  max_num_seqs: string;
  enforce_eager: boolean;
  enable_prefix_caching: boolean;
}

export function defaultForm(): LaunchForm {
  return {
    model_uid: '',
    model_engine: 'builtin',
    model_format: '',
    model_size_in_billions: '',
    quantization: '',
    replica: '1',
    n_gpu: 'auto',
    worker_ip: '',
    gpu_idx: '',
    tensor_parallel_size: '',
    gpu_memory_utilization: '0.9',
    max_model_len: '',
    max_num_seqs: '',
    enforce_eager: false,
    enable_prefix_caching: true,
  };
}

const numberOrText = (s: string): number | string =>
  s.trim() !== '' && !Number.isNaN(Number(s)) ? Number(s) : s.trim();

/** The launch request body; empty fields are left out so the server's defaults apply. */
export function launchBody(modelName: string, f: LaunchForm): Record<string, unknown> {
  const body: Record<string, unknown> = { model_name: modelName };
  const set = (key: string, value: string, convert: (s: string) => unknown = (s) => s.trim()) => {
    if (value.trim() !== '') body[key] = convert(value);
  };
  set('model_uid', f.model_uid);
  set('model_engine', f.model_engine);
  set('model_format', f.model_format);
  set('model_size_in_billions', f.model_size_in_billions, numberOrText);
  set('quantization', f.quantization);
  set('replica', f.replica, numberOrText);
  set('n_gpu', f.n_gpu, (s) => (s === 'auto' ? 'auto' : numberOrText(s)));
  set('worker_ip', f.worker_ip);
  set('gpu_idx', f.gpu_idx, (s) => s.split(',').map((x) => numberOrText(x)));
  set('tensor_parallel_size', f.tensor_parallel_size, numberOrText);
  set('gpu_memory_utilization', f.gpu_memory_utilization, numberOrText);
  set('max_model_len', f.max_model_len, numberOrText);
  set('max_num_seqs', f.max_num_seqs, numberOrText);
  if (f.enforce_eager) body.enforce_eager = true;
  if (!f.enable_prefix_caching) body.enable_prefix_caching = false;
  return body;
}

const FLAG: Record<string, string> = { model_size_in_billions: 'size-in-billions' };

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command as groups that belong together: `pagoda launch NAME`, then each `--flag value`. The page
 * shows each group unbroken, so a narrow box wraps between flags, never inside one.
 */
export function launchCliParts(body: Record<string, unknown>, endpoint?: string): string[] {
  const parts = [`pagoda launch ${shellQuote(String(body.model_name))}`];
  if (endpoint) parts.push(`--endpoint ${shellQuote(endpoint)}`);
  for (const [key, value] of Object.entries(body)) {
    if (key === 'model_name') continue;
    const flag = `--${FLAG[key] ?? key.replace(/_/g, '-')}`;
    if (value === true) parts.push(flag);
    else if (value === false) parts.push(`--no-${flag.slice(2)}`);
    else parts.push(`${flag} ${shellQuote(Array.isArray(value) ? value.join(',') : String(value))}`);
  }
  return parts;
}

/** `pagoda launch NAME --flag value ...` for a launch body, with --endpoint when not the default server. */
export function launchCli(body: Record<string, unknown>, endpoint?: string): string {
  return launchCliParts(body, endpoint).join(' ');
}
