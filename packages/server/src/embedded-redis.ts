// The Redis the platform talks to: REDIS_URL when set, otherwise a private redis-server child on a
// free loopback port with its own data directory, stopped when the server stops.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { delimiter, join } from 'node:path';

export interface RedisHandle {
  url: string;
  /** True when this process started the redis-server and owns its lifetime. */
  embedded: boolean;
  stop(): Promise<void>;
}

export const REDIS_INSTALL_HINT =
  'no redis-server binary found: install one (Debian/Ubuntu: `apt-get install redis-server`) or set REDIS_URL to a running Redis (e.g. REDIS_URL=redis://127.0.0.1:6379)';

export function findRedisServer(path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir || '.', 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.connect(port, '127.0.0.1', () => sock.write('PING\r\n'));
    sock.once('data', (buf) => done(buf.toString().startsWith('+PONG')));
  });
}

async function waitForExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startEmbeddedRedis(dataDir: string, binary = findRedisServer()): Promise<RedisHandle> {
  if (!binary) throw new Error(REDIS_INSTALL_HINT);
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freeLoopbackPort();
  // Persist with AOF so queued jobs survive a restart of the platform; loopback only, no auth needed.
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}: ${stderr.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on 127.0.0.1:${port} within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // A private Redis must not outlive us even if we die without cleaning up.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  return {
    url: `redis://127.0.0.1:${port}`,
    embedded: true,
    async stop() {
      process.off('exit', killOnExit);
      child.kill('SIGTERM');
      await waitForExit(child, 5_000);
    },
  };
}

/** REDIS_URL wins; otherwise a private redis-server under dataDir. */
export async function resolveRedis(redisUrl: string | undefined, dataDir: string): Promise<RedisHandle> {
  if (redisUrl) return { url: redisUrl, embedded: false, stop: async () => {} };
  return startEmbeddedRedis(dataDir);
}
