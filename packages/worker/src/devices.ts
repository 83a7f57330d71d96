// The devices a worker offers: NVIDIA GPUs from nvidia-smi (or a declared inventory for GPU-less
// machines, whose runners then use the CPU engine) and, always, the CPU with the host's memory.
import { execFile } from 'node:child_process';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { CPU_DEVICE_INDEX, DeclaredDevicesSchema, type Device } from '@pagoda/protocol';

const run = promisify(execFile);
const MIB = 1024 * 1024;

export const NVIDIA_SMI_QUERY = ['--query-gpu=index,name,memory.total,memory.used,utilization.gpu', '--format=csv,noheader,nounits'];

/** Parses nvidia-smi's CSV (memory in MiB); "[N/A]" utilization reads as 0. */
export function parseNvidiaSmi(csv: string): Device[] {
  const devices: Device[] = [];
  for (const line of csv.split('\n')) {
    if (!line.trim()) continue;
    const [index, name, total, used, util] = line.split(',').map((s) => s.trim());
    if (index === undefined || name === undefined || total === undefined || used === undefined) {
      throw new Error(`unexpected nvidia-smi line '${line}': expected index, name, memory.total, memory.used, utilization.gpu`);
    }
    const utilization = Number(util);
    devices.push({
      kind: 'gpu',
      index: Number(index),
      name,
      memory_total: Number(total) * MIB,
      memory_used: Number(used) * MIB,
      utilization: Number.isFinite(utilization) ? utilization : 0,
      declared: false,
    });
  }
  return devices;
}

/** The GPUs nvidia-smi reports; none when it is missing or finds no driver. */
export async function queryNvidiaGpus(binary = 'nvidia-smi'): Promise<Device[]> {
  try {
    const { stdout } = await run(binary, NVIDIA_SMI_QUERY, { timeout: 10_000 });
    return parseNvidiaSmi(stdout);
  } catch {
    return [];
  }
}

/** Parses --devices JSON into GPU devices; throws with what is wrong. */
export function parseDeclaredDevices(json: string): Device[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`--devices is not JSON (${(err as Error).message}); give e.g. '[{"name":"A100","memory_total":85899345920}]'`, { cause: err });
  }
  const parsed = DeclaredDevicesSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`--devices: ${issue.path.join('.') || 'value'}: ${issue.message}; each entry is {name?, memory_total (bytes), memory_used?, index?}`);
  }
  const seen = new Set<number>();
  return parsed.data.map((d, i) => {
    const index = d.index ?? i;
    if (seen.has(index)) throw new Error(`--devices: index ${index} appears twice; give each GPU its own index`);
    seen.add(index);
    return { kind: 'gpu' as const, index, name: d.name, memory_total: d.memory_total, memory_used: d.memory_used, utilization: 0, declared: true };
  });
}

export function cpuDevice(): Device {
  const cores = cpus().length;
  const total = totalmem();
  return {
    kind: 'cpu',
    index: CPU_DEVICE_INDEX,
    name: `${cpus()[0]?.model.trim() ?? 'CPU'} (${cores} cores)`,
    memory_total: total,
    memory_used: total - freemem(),
    utilization: Math.min(100, Math.round((loadavg()[0]! / Math.max(1, cores)) * 100)),
    declared: false,
  };
}

/** The inventory to report now: declared GPUs (fixed) or nvidia-smi's, then the CPU. */
export async function discoverDevices(declared: Device[] | null): Promise<Device[]> {
  const gpus = declared ?? (await queryNvidiaGpus());
  return [...gpus, cpuDevice()];
}
