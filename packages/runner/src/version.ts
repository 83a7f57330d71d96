// The runner's version, as GET /version reports it.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
export const RUNNER_VERSION: string = pkg.version;
