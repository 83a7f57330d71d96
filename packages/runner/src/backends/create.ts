// Picks and builds the backend named by --backend.
import type { Logger } from 'pino';
import type { Backend } from '../backend.ts';
import { resolveModelPath } from '../model-path.ts';
import type { ServeOptions } from '../serve-options.ts';
import { createLlamaCppBackend } from './llamacpp.ts';
import { RemoteBackend } from './remote.ts';
import { createVllmBackend } from './vllm.ts';

export async function createBackend(opts: ServeOptions, log: Logger): Promise<Backend> {
  // `pagoda serve model.gguf` needs no --backend: only llama.cpp reads GGUF.
  const backend =
    opts.backend === 'builtin' && opts.model.toLowerCase().endsWith('.gguf')
      ? 'llamacpp'
      : opts.backend;
  switch (backend) {
    case 'builtin': {
      // Loaded on demand: the native addon is only needed by this backend.
      const { PoolingBackend, poolingTaskOf } = await import('./pooling.ts');
      if (poolingTaskOf(resolveModelPathOrSelf(opts.model)) !== null) return new PoolingBackend(opts, log);
      const { BuiltinBackend } = await import('./builtin.ts');
      return new BuiltinBackend(opts, log);
    }
    case 'remote':
      if (!opts.remote_base_url)
        throw new Error(
          '--backend remote needs --remote-base-url (the upstream OpenAI base URL, e.g. http://host:8000/v1)',
        );
      return new RemoteBackend({
        baseUrl: opts.remote_base_url,
        model: opts.model,
        apiKey: opts.remote_api_key,
        readyTimeoutMs: opts.backend_start_timeout * 1000,
      });
    case 'vllm':
      return createVllmBackend(opts, log);
    case 'llamacpp': {
      // A given executable means a llama-server child; otherwise llama.cpp runs in this process.
      if (opts.backend_executable !== undefined) return createLlamaCppBackend(opts, log);
      const { LlamaCppBackend } = await import('./llama-cpp-backend.ts');
      return new LlamaCppBackend(opts, log);
    }
  }
}

/** The model's folder when it resolves; else the name itself (the backend's load reports it). */
function resolveModelPathOrSelf(model: string): string {
  try {
    return resolveModelPath(model);
  } catch {
    return model;
  }
}
