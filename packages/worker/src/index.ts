// The host agent: device discovery, heartbeats, its own job queue, runner lifecycle.
export { startWorker, type RunningWorker } from './worker.ts';
export { resolveWorkerConfig, defaultWorkerName, type WorkerConfig, type WorkerConfigInput } from './config.ts';
export { discoverDevices, parseDeclaredDevices, parseNvidiaSmi, cpuDevice, NVIDIA_SMI_QUERY } from './devices.ts';
export { ReplicaManager, type ReplicaManagerOptions } from './replica-manager.ts';
export { runnerArgv, runnerEnv, splitExtraArgs, DEFAULT_RUNNER_COMMAND } from './runner-command.ts';
