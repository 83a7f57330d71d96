// Test helper: runs `pagoda serve ...` as a real child process and waits until it answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const PAGODA_BIN = `${REPO_ROOT}bin/pagoda`;
export const STORIES = `${REPO_ROOT}../shared/models/stories260k`;
/** A chat template that stories260k (which has none) can be served with. */
export const PLAIN_CHAT_TEMPLATE = fileURLToPath(
  new URL('../fixtures/plain-chat-template.jinja', import.meta.url),
);

/** One case of transformers' golden file for stories260k (../shared/fixtures/golden). */
export interface StoriesGoldenCase {
  prompt_text: string;
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
  greedy_logprobs: number[];
  /** transformers' logits at every prompt position, float32 little-endian, base64. */
  prompt_logits_f32_b64: string;
  prompt_logits_shape: [number, number];
}

/** The log-softmax of the golden's logits at every prompt position (position i predicts token i + 1). */
export function goldenPromptLogprobs(c: StoriesGoldenCase): Float64Array[] {
  const bytes = Buffer.from(c.prompt_logits_f32_b64, 'base64');
  const logits = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const [rows, vocab] = c.prompt_logits_shape;
  return Array.from({ length: rows }, (_, r) => {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
    const logZ = max + Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0));
    return Float64Array.from(row, (x) => x - logZ);
  });
}

export function storiesGolden(): { cases: StoriesGoldenCase[] } {
  return JSON.parse(
    readFileSync(`${REPO_ROOT}../shared/fixtures/golden/stories260k.golden.json`, 'utf8'),
  ) as {
    cases: StoriesGoldenCase[];
  };
}

export const STAND_IN = fileURLToPath(new URL('../fixtures/stand-in-server.mjs', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface ServeProcess {
  url: string;
  proc: ChildProcess;
  output: () => string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `pagoda serve <args>` on a free port; does not wait for readiness. */
export async function spawnServe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ServeProcess> {
  const port = await freePort();
  const proc = spawn(PAGODA_BIN, ['serve', ...args, '--port', String(port)], {
    cwd: REPO_ROOT,
    env: { ...process.env, PAGODA_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    output: () => out,
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Polls GET /health until 200; fails with the process output if it exits or times out. */
export async function waitReady(s: ServeProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void s.exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`pagoda serve exited before it was ready:\n${s.output()}`);
    try {
      const res = await fetch(`${s.url}/health`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pagoda serve was not ready in ${timeoutMs} ms:\n${s.output()}`);
}

export async function startServe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ServeProcess> {
  const s = await spawnServe(args, env);
  await waitReady(s);
  return s;
}

/**
 * A model folder whose config makes generation slow enough to interrupt (random weights through
 * load_format dummy, stories260k's tokenizer): pass `${dir}/config.json` with --load-format dummy.
 */
export function makeSlowModel(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pagoda-slow-model-'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
    copyFileSync(join(STORIES, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(STORIES, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  Object.assign(config, {
    hidden_size: 512,
    intermediate_size: 1408,
    num_hidden_layers: 8,
    num_attention_heads: 8,
    num_key_value_heads: 8,
    head_dim: 64,
    max_position_embeddings: 2048,
  });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
