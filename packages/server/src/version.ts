// The platform's version: the root package.json's version and the git commit it runs from.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export interface VersionInfo {
  name: 'pagoda';
  version: string;
  commit: string | null;
  node: string;
}

export function versionInfo(): VersionInfo {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version?: string };
  return { name: 'pagoda', version: pkg.version ?? '0.0.0', commit: gitCommit(), node: process.version };
}
