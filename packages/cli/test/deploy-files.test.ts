// docker-compose.yml and docker/*.Dockerfile, checked without a Docker engine: the YAML parses, the
// services point at each other with matching names, ports and credentials, the worker gets the NVIDIA
// GPUs, every Dockerfile stage and copied path exists, and the environment variables the files set
// are the ones the server and worker read.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error} (throws like compose does). */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g,
    (_, name: string, op: string | undefined, arg: string) => {
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (op === '?') throw new Error(`required variable ${name} is missing: ${arg}`);
      return op === '-' ? arg : '';
    },
  );
}

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
  command?: string[];
  runtime?: string;
  deploy?: {
    resources: {
      reservations: {
        devices: Array<{ driver: string; count: string | number; capabilities: string[] }>;
      };
    };
  };
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

const ENV = { PAGODA_ADMIN_KEY: 'a-long-enough-admin-key' };
const compose = parse(interpolate(read('docker-compose.yml'), ENV)) as Compose;
const s = compose.services;

/** The CLI's command names, from the COMMANDS map in packages/cli/src/main.ts. */
const CLI_COMMANDS = [
  ...read('packages/cli/src/main.ts').matchAll(/^\s+'?([a-z-]+)'?: ['"`]/gm),
].map((m) => m[1]!);

describe('docker-compose.yml', () => {
  it('runs postgres, redis, the server and a worker', () => {
    expect(Object.keys(s).sort()).toEqual(['postgres', 'redis', 'server', 'worker']);
  });

  it('refuses to start without an admin key (the server would listen on loopback only)', () => {
    expect(() => interpolate(read('docker-compose.yml'), {})).toThrow(/PAGODA_ADMIN_KEY/);
  });

  it('points the server at postgres and redis with the credentials they are given', () => {
    const db = new URL(s.server!.environment!.DATABASE_URL!);
    const pg = s.postgres!.environment!;
    expect(db.protocol).toBe('postgresql:');
    expect(db.hostname).toBe('postgres');
    expect(db.port).toBe('5432');
    expect(decodeURIComponent(db.username)).toBe(pg.POSTGRES_USER);
    expect(decodeURIComponent(db.password)).toBe(pg.POSTGRES_PASSWORD);
    expect(db.pathname).toBe(`/${pg.POSTGRES_DB}`);
    for (const svc of ['server', 'worker'])
      expect(new URL(s[svc]!.environment!.REDIS_URL!).hostname).toBe('redis');
    expect(s.redis!.command).toContain('--appendonly');
  });

  it('lets the worker reach the server on the port the server listens on', () => {
    const server = new URL(s.worker!.environment!.PAGODA_SERVER_URL!);
    const port = s.server!.environment!.PAGODA_PORT!;
    expect(server.hostname).toBe('server');
    expect(server.port).toBe(port);
    expect(s.server!.environment!.PAGODA_HOST).toBe('0.0.0.0');
    expect(s.server!.ports!.some((p) => p.endsWith(`:${port}`))).toBe(true);
    expect(s.worker!.command).toEqual(
      expect.arrayContaining(['--host', '0.0.0.0', '--address', 'worker']),
    );
  });

  it('gives the worker the NVIDIA runtime and every GPU', () => {
    const w = s.worker!;
    expect(w.runtime).toBe('nvidia');
    const devices = w.deploy!.resources.reservations.devices;
    expect(devices).toEqual([
      expect.objectContaining({
        driver: 'nvidia',
        count: 'all',
        capabilities: expect.arrayContaining(['gpu']),
      }),
    ]);
  });

  it('waits on healthchecks that exist, builds from Dockerfiles that exist, and declares its volumes', () => {
    for (const [name, svc] of Object.entries(s)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        expect(s[dep], `${name} depends on ${dep}`).toBeDefined();
        if (condition === 'service_healthy') {
          const hasCheck =
            s[dep]!.healthcheck !== undefined ||
            (s[dep]!.build && read(s[dep]!.build!.dockerfile).includes('HEALTHCHECK'));
          expect(hasCheck, `${dep} needs a healthcheck for ${name}`).toBeTruthy();
        }
      }
      if (svc.build)
        expect(
          existsSync(join(ROOT, svc.build.context, svc.build.dockerfile)),
          `${name}'s Dockerfile`,
        ).toBe(true);
      for (const v of svc.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/'))
          expect(compose.volumes, `volume ${source}`).toHaveProperty(source);
      }
    }
  });

  it('runs CLI commands that exist', () => {
    expect(CLI_COMMANDS).toEqual(expect.arrayContaining(['start', 'worker']));
    for (const svc of ['server', 'worker']) {
      const cmd = s[svc]!.command;
      if (cmd) expect(CLI_COMMANDS).toContain(cmd[1]);
    }
  });

  it('sets only environment variables the server and worker read', () => {
    const serverSources = read('packages/server/src/config.ts');
    for (const name of Object.keys(s.server!.environment!))
      expect(serverSources, `server reads ${name}`).toContain(name);
    const workerSources = [
      'packages/cli/src/commands/worker.ts',
      'packages/worker/src/config.ts',
      'packages/worker/src/download/hub-settings.ts',
    ]
      .map(read)
      .join('\n');
    for (const name of Object.keys(s.worker!.environment!))
      expect(workerSources, `worker reads ${name}`).toContain(name);
  });
});

interface Stage {
  name: string | null;
  from: string;
  lines: string[];
}

function stages(dockerfile: string): Stage[] {
  const text = read(dockerfile).replace(/\\\n/g, ' ');
  const out: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1]!, name: from[2] ?? null, lines: [] });
    else if (out.length > 0) out.at(-1)!.lines.push(line);
  }
  return out;
}

/** Workspace members per pnpm-workspace.yaml: the folders holding a package.json. */
function workspaceManifests(): string[] {
  const globs = (parse(read('pnpm-workspace.yaml')) as { packages: string[] }).packages;
  return globs.flatMap((g) => {
    if (!g.endsWith('/*'))
      return existsSync(join(ROOT, g, 'package.json')) ? [`${g}/package.json`] : [];
    const dir = g.slice(0, -2);
    return readdirSync(join(ROOT, dir))
      .filter((d) => existsSync(join(ROOT, dir, d, 'package.json')))
      .map((d) => `${dir}/${d}/package.json`);
  });
}

describe.each(['docker/server.Dockerfile', 'docker/worker.Dockerfile'])('%s', (dockerfile) => {
  const all = stages(dockerfile);

  it('copies only from earlier stages and from paths that exist', () => {
    const seen = new Set<string>();
    for (const stage of all) {
      for (const line of stage.lines) {
        const copy = /^COPY\s+(?:--from=(\S+)\s+)?(.+)$/i.exec(line);
        if (!copy) continue;
        const parts = copy[2]!.split(/\s+/);
        if (copy[1]) {
          expect(seen.has(copy[1]), `stage '${copy[1]}' is defined before it is copied from`).toBe(
            true,
          );
          continue;
        }
        for (const src of parts.slice(0, -1))
          if (src !== '.') expect(existsSync(join(ROOT, src)), `${src} exists`).toBe(true);
      }
      if (stage.name) seen.add(stage.name);
    }
  });

  it('copies every workspace manifest before installing with the frozen lockfile', () => {
    const lines = all.flatMap((st) => st.lines);
    const install = lines.findIndex((l) => /pnpm install --frozen-lockfile/.test(l));
    expect(install).toBeGreaterThan(0);
    const copied = lines
      .slice(0, install)
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from'));
    for (const manifest of [
      ...workspaceManifests(),
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'package.json',
    ]) {
      expect(
        copied.some((l) => l.split(/\s+/).includes(manifest)),
        `${manifest} copied before pnpm install`,
      ).toBe(true);
    }
  });

  it('generates the Prisma clients and starts a CLI command that exists', () => {
    const text = read(dockerfile);
    expect(text).toContain('packages/db/scripts/generate.sh');
    expect(existsSync(join(ROOT, 'packages/db/scripts/generate.sh'))).toBe(true);
    const cmd = /^CMD\s+(\[.*\])$/m.exec(text);
    const argv = JSON.parse(cmd![1]!) as string[];
    expect(argv[0]).toBe('pagoda');
    expect(CLI_COMMANDS).toContain(argv[1]);
  });
});

describe('.dockerignore', () => {
  it('keeps host-built outputs out of `COPY . .`, which would replace what the images install and build', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const path of ['**/node_modules', 'native/build', 'packages/db/generated', '.git'])
      expect(ignored).toContain(path);
  });
});

describe('docker/worker.Dockerfile', () => {
  it('builds the engine with CUDA on the toolkit image and runs on the CUDA runtime image', () => {
    const all = stages('docker/worker.Dockerfile');
    const build = all.find((st) => st.lines.some((l) => l.includes('native/scripts/build.sh')))!;
    expect(build.from).toMatch(/^nvidia\/cuda:.*-devel-/);
    expect(build.lines.join('\n')).toMatch(/PAGODA_CUDA=ON .*bash native\/scripts\/build.sh/);
    expect(all.at(-1)!.from).toMatch(/^nvidia\/cuda:.*-runtime-/);
    expect(existsSync(join(ROOT, 'native/scripts/build.sh'))).toBe(true);
  });
});
