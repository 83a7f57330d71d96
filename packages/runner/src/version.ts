// The runner's version, as GET /version reports it (from the package's own package.json).
import pkg from '../package.json' with { type: 'json' };

export const RUNNER_VERSION: string = pkg.version;
