// Loads xgrammar (npm @mlc-ai/web-xgrammar: the C++ grammar engine compiled to wasm) in Node, and
// turns its fatal errors into messages. Its published index.js is a UMD bundle in a "type": "module"
// package, which Node's ESM loader cannot run (it calls require), so it is evaluated as CommonJS here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';
import type * as XGrammar from '@mlc-ai/web-xgrammar';

export type XGrammarModule = typeof XGrammar;

let loaded: XGrammarModule | null = null;

export function xgrammar(): XGrammarModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar');
  const source = readFileSync(file, 'utf8');
  const wrapper = vm.runInThisContext(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    {
      filename: file,
      // the bundle imports its wasm glue dynamically
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    },
  ) as (e: object, r: NodeRequire, m: { exports: object }, f: string, d: string) => void;
  const mod = { exports: {} };
  wrapper(mod.exports, createRequire(file), mod, file, dirname(file));
  loaded = mod.exports as XGrammarModule;
  return loaded;
}

/**
 * Runs one xgrammar call. A refused grammar aborts inside the wasm after printing
 * "[FATAL] file:line: reason" on stderr and throws "Aborted()": the reason is caught from stderr
 * (silenced meanwhile) and thrown as a GrammarError. Calls are serialized so the capture is theirs.
 */
export class GrammarError extends Error {
  override readonly name = 'GrammarError';
}

let queue: Promise<unknown> = Promise.resolve();

export function xgrammarCall<T>(f: () => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const original = process.stderr.write.bind(process.stderr);
    let captured = '';
    process.stderr.write = ((chunk: string | Uint8Array) => {
      captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    }) as typeof process.stderr.write;
    try {
      return await f();
    } catch (err) {
      throw new GrammarError(fatalReason(captured) ?? (err as Error)?.message ?? String(err));
    } finally {
      process.stderr.write = original;
    }
  };
  const result = queue.then(run, run);
  queue = result.catch(() => undefined);
  return result;
}

/** "[FATAL] /path/x.cc:75: Regex parsing error ..." → "Regex parsing error ..." (no build paths). */
function fatalReason(stderr: string): string | null {
  const line = stderr.split('\n').find((l) => l.includes('[FATAL]'));
  if (!line) return null;
  return line
    .replace(/^.*\[FATAL\]\s*/, '')
    .replace(/^\S+:\d+:\s*/, '')
    .replace(/^Check failed: \(.*?\) is false:\s*/, '')
    .trim();
}
