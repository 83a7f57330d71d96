// @pagoda/client as a user outside this workspace gets it: `pnpm pack` of it and of @pagoda/protocol,
// both installed from the tarballs into a temporary project, imported from JavaScript and type-checked.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');
let dir: string;
let app: string;

const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    stdio: 'pipe',
  });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pagoda-client-pack-'));
  for (const pkg of ['protocol', 'client'])
    run('pnpm', ['pack', '--pack-destination', dir], join(root, 'packages', pkg));
  app = join(dir, 'app');
  run('mkdir', ['-p', app], dir);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'outside-app',
      private: true,
      type: 'module',
      dependencies: { '@pagoda/client': 'file:../pagoda-client-0.1.0.tgz' },
    }),
  );
  // The client's dependency on @pagoda/protocol@0.1.0 comes from its tarball too (nothing is published).
  writeFileSync(
    join(app, 'pnpm-workspace.yaml'),
    'overrides:\n  "@pagoda/protocol": "file:../pagoda-protocol-0.1.0.tgz"\n',
  );
  run('pnpm', ['install', '--offline', '--reporter=silent'], app);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('@pagoda/client from its tarball', () => {
  it('ships built JavaScript and types, and depends on the published protocol version', () => {
    const manifest = JSON.parse(
      readFileSync(join(app, 'node_modules/@pagoda/client/package.json'), 'utf8'),
    );
    expect(manifest.exports['.']).toEqual({
      types: './dist/index.d.ts',
      default: './dist/index.js',
    });
    expect(manifest.dependencies['@pagoda/protocol']).toBe('0.1.0');
  });

  it('imports from plain JavaScript and talks to a server: lists, and reports refusals with the server message', () => {
    writeFileSync(
      join(app, 'app.mjs'),
      `import http from 'node:http';
import { PagodaClient, PagodaApiError } from '@pagoda/client';
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.method === 'GET' && req.url === '/v1/models?all=1') {
    res.end(JSON.stringify({ object: 'list', data: [{ model_uid: 'tiny', status: 'ready', auth: req.headers.authorization }] }));
  } else {
    res.statusCode = 400;
    res.end(JSON.stringify({ error: { message: 'model_path: /nowhere does not exist', type: 'invalid_request_error', param: 'model_path', code: null } }));
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const client = new PagodaClient({ endpoint: 'http://127.0.0.1:' + server.address().port, apiKey: 'pk-test' });
const models = await client.listModels();
let refusal = null;
try { await client.register({ model_name: 'x', model_path: '/nowhere' }); } catch (err) {
  refusal = { isApiError: err instanceof PagodaApiError, status: err.status, message: err.message, fields: err.fieldErrors };
}
server.close();
console.log(JSON.stringify({ models, refusal }));
`,
    );
    const out = JSON.parse(run('node', ['app.mjs'], app));
    expect(out.models).toEqual([{ model_uid: 'tiny', status: 'ready', auth: 'Bearer pk-test' }]);
    expect(out.refusal).toEqual({
      isApiError: true,
      status: 400,
      message: 'model_path: /nowhere does not exist',
      fields: [{ field: 'model_path', message: 'model_path: /nowhere does not exist' }],
    });
  });

  it('type-checks a TypeScript user of it, and its types catch a wrong use', () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2023',
          lib: ['ES2023', 'DOM'],
          noEmit: true,
          types: [],
        },
        files: ['use.ts'],
      }),
    );
    const use = (extra: string) =>
      writeFileSync(
        join(app, 'use.ts'),
        `import { PagodaClient, type ModelView, type PlanResponse } from '@pagoda/client';
const client = new PagodaClient({ endpoint: 'http://127.0.0.1:9997' });
export const models: Promise<ModelView[]> = client.listModels();
export const plan: Promise<PlanResponse> = client.plan({ model_name: 'qwen3', replica: 1 });
${extra}
`,
      );
    const typecheck = () => {
      const r = spawnSync('node', [tsc, '-p', '.'], { cwd: app, encoding: 'utf8' });
      return { status: r.status, output: r.stdout + r.stderr };
    };
    use('');
    expect(typecheck()).toEqual({ status: 0, output: '' });
    use(`export const wrong: string = (await client.listModels())[0]!.replicas;`);
    const wrong = typecheck();
    expect(wrong.status).not.toBe(0);
    expect(wrong.output).toMatch(
      /use\.ts\(5,14\): error TS2322: Type 'ReplicaView\[\]' is not assignable to type 'string'/,
    );
  }, 240_000);
});
