// Runs one runner: builds the backend, listens at once (503 until loaded), loads, and shuts down cleanly.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Admission } from './admission.ts';
import { createApp } from './app.ts';
import type { Backend } from './backend.ts';
import { createBackend } from './backends/create.ts';
import { RunnerMetrics } from './metrics.ts';
import {
  DEFAULT_MAX_NUM_SEQS,
  ServeOptionsSchema,
  type ServeOptions,
  type ServeOptionsInput,
} from './serve-options.ts';
import { RUNNER_VERSION } from './version.ts';

export interface RunningRunner {
  url: string;
  server: Server;
  backend: Backend;
  options: ServeOptions;
  /** Settles when the model is loaded (or rejects with why it could not be). */
  loaded: Promise<void>;
  close(): Promise<void>;
}

export async function startRunner(
  input: ServeOptionsInput,
  log: Logger,
  backendOverride?: Backend,
): Promise<RunningRunner> {
  const options = ServeOptionsSchema.parse(input);
  const backend = backendOverride ?? (await createBackend(options, log));
  const servedModelNames =
    options.served_model_name.length > 0 ? options.served_model_name : [options.model];
  const ctx = {
    backend,
    admission: new Admission(
      options.max_num_seqs ?? DEFAULT_MAX_NUM_SEQS,
      options.max_waiting_requests,
    ),
    metrics: new RunnerMetrics(servedModelNames[0]!),
    servedModelNames,
    apiKey: options.api_key,
    maxBodyBytes: options.max_request_body_bytes,
    allowedOrigins: options.allowed_origins,
    version: RUNNER_VERSION,
    log,
  };
  const server = createServer(createApp(ctx));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  log.info({ url, backend: backend.kind, model: options.model }, 'listening; loading the model');

  const loaded = backend.load().then(
    () => log.info({ url, served: servedModelNames }, 'model loaded; ready'),
    (err: unknown) => {
      log.error({ err: (err as Error).message }, 'model failed to load');
      throw err;
    },
  );
  loaded.catch(() => {}); // observed by the caller; never an unhandled rejection

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backend.shutdown();
    })());
  return { url, server, backend, options, loaded, close };
}
