// The README's "first chat" as a newcomer follows it: the commands of its marked block, exactly as
// written, run in the repository root (only the port, data folder and endpoint come from the
// environment, so the test has a platform of its own). Then the other path the README describes: a
// model registered without a chat template, the advice a chat gets, and that following it works.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MARKER =
  '<!-- test/readme/first-chat.test.ts runs the commands of the next block exactly as written. -->';

/** The command lines of the sh block that follows the marker, comments and blank lines left out. */
export function readmeCommands(readme: string): string[] {
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error('README.md lost its first-chat marker');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error('no sh block after the first-chat marker');
  return block[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#\s.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dataDir: string;
let env: NodeJS.ProcessEnv;
let platform: ChildProcess;
let platformOutput = '';
const commands = readmeCommands(readFileSync(join(root, 'README.md'), 'utf8'));

/** One README line through bash, as a user's shell runs it. */
function sh(line: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', line], { cwd: root, env, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pagoda-readme-'));
  const port = await freePort();
  env = {
    ...process.env,
    NO_COLOR: '1',
    PAGODA_PORT: String(port),
    PAGODA_DATA_DIR: dataDir,
    PAGODA_ENDPOINT: `http://127.0.0.1:${port}`,
  };
  delete env.REDIS_URL;
  delete env.DATABASE_URL;
  delete env.PAGODA_API_KEY;
  delete env.PAGODA_ADMIN_KEY;
  expect(commands[0]).toBe('bash scripts/start');
  platform = spawn('bash', ['-c', commands[0]!], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  platform.stdout!.on('data', (d: Buffer) => (platformOutput += d.toString()));
  platform.stderr!.on('data', (d: Buffer) => (platformOutput += d.toString()));
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (platform.exitCode !== null)
      throw new Error(`bash scripts/start exited ${platform.exitCode}:\n${platformOutput}`);
    const ok = await fetch(`${env.PAGODA_ENDPOINT}/health`).then(
      (r) => r.ok,
      () => false,
    );
    // What the README's reader waits for: the line saying the platform (server and worker) runs.
    if (ok && platformOutput.includes('Pagoda is running at')) break;
    if (Date.now() > deadline)
      throw new Error(`bash scripts/start was not healthy in 180 s:\n${platformOutput}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}, 200_000);

afterAll(async () => {
  if (platform && platform.exitCode === null) {
    const exited = new Promise((resolve) => platform.once('exit', resolve));
    platform.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  }
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

describe("the README's first chat", () => {
  it('is the start, register, launch and chat commands', () => {
    expect(commands.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual([
      'bash scripts/start',
      'bin/pagoda register',
      'bin/pagoda launch',
      'bin/pagoda chat',
    ]);
  });

  it('registers stories260k, launches it and chats with it, with no error', () => {
    for (const line of commands.slice(1)) {
      const r = sh(line);
      expect({ line, status: r.status, stderr: r.stderr }).toEqual({ line, status: 0, stderr: '' });
      if (line.startsWith('bin/pagoda chat')) expect(r.stdout.trim().length).toBeGreaterThan(0);
    }
  }, 300_000);

  it('sent the relative --model-path as the folder it names from where the command ran', async () => {
    const res = await fetch(`${env.PAGODA_ENDPOINT}/v1/model_registrations/LLM/stories260k`);
    const family = (await res.json()) as { model_specs: Array<{ model_path?: string }> };
    expect(family.model_specs[0]!.model_path).toBe(
      join(root, '..', 'shared', 'models', 'stories260k'),
    );
  });

  it('without a chat template, a chat says what to do on the platform, and doing it works', () => {
    const register = sh('bin/pagoda register notemplate --model-path ../shared/models/stories260k');
    expect(register.status, register.stderr).toBe(0);
    expect(sh('bin/pagoda launch notemplate').status).toBe(0);
    const refused = sh('bin/pagoda chat notemplate --message hello');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('this model has no chat template: give its registration one');
    expect(refused.stderr).toContain('`pagoda register notemplate --update --chat-template FILE`');
    expect(refused.stderr).toContain(
      '`pagoda terminate notemplate` and `pagoda launch notemplate`',
    );
    expect(refused.stderr).not.toContain('start the server with --chat-template');

    const update = sh(
      'bin/pagoda register notemplate --update --chat-template docs/chat-templates/plain.jinja',
    );
    expect(update.status, update.stderr).toBe(0);
    expect(update.stdout).toContain('It is launched as notemplate, which keeps the old settings');
    for (const line of ['bin/pagoda terminate notemplate', 'bin/pagoda launch notemplate'])
      expect(sh(line).status, line).toBe(0);
    const chat = sh('bin/pagoda chat notemplate --message hello');
    expect({ status: chat.status, stderr: chat.stderr }).toEqual({ status: 0, stderr: '' });
  }, 300_000);
});
