// `pagoda embed` and `pagoda rerank` against the real server (SQLite; REDIS_URL, else its private
// redis-server) and a worker with declared GPUs whose runners use the CPU engine: the tiny BERT
// embedding model (as given, and a copy that declares Matryoshka dimensions), the tiny BERT reranker
// and stories260k as the chat model that embed must refuse.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PagodaClient } from '@pagoda/client';
import type { CliIo } from '../src/cli-io.ts';
import { run as embed } from '../src/commands/embed.ts';
import { run as launch } from '../src/commands/launch.ts';
import { run as rerank } from '../src/commands/rerank.ts';
import { startCliCluster, type CliCluster } from './cli-cluster.ts';

const MODELS = resolve(import.meta.dirname, '../../../../shared/models');
const WAVE2 = join(MODELS, 'wave2');
const ADMIN_KEY = 'cli-embed-test-admin-key-0123456789';
let cluster: CliCluster;
let client: PagodaClient;

/** An io that records output and the requests made; `stdin` set means standard input is a pipe. */
function capture(stdin?: string) {
  let out = '';
  let err = '';
  let requests = 0;
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    env: { PAGODA_ENDPOINT: cluster.server.url, PAGODA_API_KEY: ADMIN_KEY, PAGODA_POLL_MS: '50' },
    isTTY: false,
    stdinIsTTY: stdin === undefined,
    readStdin: async () => stdin ?? '',
    fetch: (input, init) => {
      requests++;
      return fetch(input, init);
    },
  };
  return { io, out: () => out, err: () => err, requests: () => requests };
}

const cosine = (a: number[], b: number[]) => {
  const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i]!, 0);
  return dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
};

/** The vectors `pagoda embed --json` printed, in the order of its output. */
function jsonVectors(out: string): number[][] {
  const data = JSON.parse(out) as { object: string; index: number; embedding: number[] }[];
  expect(data.map((d) => d.index)).toEqual(data.map((_, i) => i));
  return data.map((d) => d.embedding);
}

async function launchReady(name: string, uid: string): Promise<void> {
  const c = capture();
  const code = await launch([name, '-u', uid, '--timeout', '120'], c.io);
  expect(code, c.err()).toBe(0);
  expect(c.out()).toMatch(new RegExp(`Model ${uid} is ready`));
}

beforeAll(async () => {
  cluster = await startCliCluster('cli-embed', ADMIN_KEY);
  client = new PagodaClient({ endpoint: cluster.server.url, apiKey: ADMIN_KEY });
  // A copy of the embedding model that declares Matryoshka dimensions, so --dimensions can shorten.
  const matryoshka = join(cluster.dataDir, 'tiny-bert-embed-matryoshka');
  cpSync(join(WAVE2, 'tiny-bert-embed'), matryoshka, { recursive: true });
  const config = JSON.parse(readFileSync(join(matryoshka, 'config.json'), 'utf8')) as object;
  writeFileSync(
    join(matryoshka, 'config.json'),
    JSON.stringify({ ...config, matryoshka_dimensions: [16, 32] }),
  );
  await client.register(
    { model_name: 'emb', model_path: join(WAVE2, 'tiny-bert-embed') },
    'embedding',
  );
  await client.register({ model_name: 'emb-m', model_path: matryoshka }, 'embedding');
  await client.register(
    { model_name: 'rr', model_path: join(WAVE2, 'tiny-bert-rerank') },
    'rerank',
  );
  await client.register({
    model_name: 'stories',
    model_path: join(MODELS, 'stories260k'),
    chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}',
  });
  for (const [name, uid] of [
    ['emb', 'cli-emb'],
    ['emb-m', 'cli-emb-m'],
    ['rr', 'cli-rr'],
    ['stories', 'cli-chat'],
  ] as const)
    await launchReady(name, uid);
}, 300_000);

afterAll(async () => {
  await cluster?.close();
});

const TEXTS = ['the cat sat on the mat', 'a dog ran in the park'];
const QUERY = 'where did the cat sit';
const DOCS = [
  'the cat sat on the mat',
  'stock prices fell sharply today',
  'a kitten rested on a rug',
];

describe('pagoda embed', () => {
  it('prints sizes, norms and the cosine matrix; --json gives the vectors it came from', async () => {
    const json = capture();
    expect(await embed(['cli-emb', ...TEXTS, '--json'], json.io)).toBe(0);
    const vectors = jsonVectors(json.out());
    expect(vectors.map((v) => v.length)).toEqual([64, 64]);
    expect(vectors[0]).not.toEqual(vectors[1]);

    const human = capture();
    expect(await embed(['cli-emb', ...TEXTS], human.io)).toBe(0);
    const [table, matrix] = human.out().split('\ncosine similarity:\n');
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)).toFixed(4);
    expect(table).toBe(
      [
        '#  DIMS  NORM    TEXT',
        `0  64    ${norm(vectors[0]!)}  ${TEXTS[0]}`,
        `1  64    ${norm(vectors[1]!)}  ${TEXTS[1]}`,
        '',
      ].join('\n'),
    );
    const off = cosine(vectors[0]!, vectors[1]!).toFixed(4);
    expect(off).not.toBe('1.0000');
    expect(matrix).toBe(
      [`    #0      #1`, `#0  1.0000  ${off}`, `#1  ${off}  1.0000`, ''].join('\n'),
    );
  });

  it('abbreviates a long text in the table', async () => {
    const long = `${'word '.repeat(30)}end`;
    const c = capture();
    expect(await embed(['cli-emb', long], c.io)).toBe(0);
    const row = c.out().trim().split('\n')[1]!;
    expect(row).toMatch(/^0 +64 +\d\.\d{4} +(word ){11}word…$/);
    expect(c.out()).not.toMatch(/cosine/);
  });

  it('shortens vectors with --dimensions where the model allows it, and relays the refusal where not', async () => {
    const full = capture();
    expect(await embed(['cli-emb-m', TEXTS[0]!, '--json'], full.io)).toBe(0);
    const short = capture();
    expect(await embed(['cli-emb-m', TEXTS[0]!, '--dimensions', '32', '--json'], short.io)).toBe(0);
    const [v64] = jsonVectors(full.out());
    const [v32] = jsonVectors(short.out());
    expect(v32).toHaveLength(32);
    // The shortened vector is the full one's first 32 components, normalized again.
    const head = v64!.slice(0, 32);
    const n = Math.sqrt(head.reduce((s, x) => s + x * x, 0));
    expect(Math.max(...v32!.map((x, i) => Math.abs(x - head[i]! / n)))).toBeLessThan(1e-5);
    const human = capture();
    expect(await embed(['cli-emb-m', TEXTS[0]!, '--dimensions', '16'], human.io)).toBe(0);
    expect(human.out()).toMatch(/\n0 +16 +1\.0000 +the cat sat on the mat\n$/);

    const refused = capture();
    expect(await embed(['cli-emb', TEXTS[0]!, '--dimensions', '32'], refused.io)).toBe(1);
    expect(refused.err()).toBe(
      "pagoda embed: model 'cli-emb' does not support dimensions other than 64 (it is not a Matryoshka model) (HTTP 400)\n",
    );
    const notListed = capture();
    expect(await embed(['cli-emb-m', TEXTS[0]!, '--dimensions', '20'], notListed.io)).toBe(1);
    expect(notListed.err()).toMatch(
      /model 'cli-emb-m' supports dimensions 16, 32, 64 \(HTTP 400\)/,
    );
  });

  it('reads the texts from standard input, one per line', async () => {
    const args = capture();
    expect(await embed(['cli-emb', ...TEXTS, '--json'], args.io)).toBe(0);
    const piped = capture(`${TEXTS[0]}\r\n\n${TEXTS[1]}\n`);
    expect(await embed(['cli-emb', '--json'], piped.io)).toBe(0);
    const a = jsonVectors(args.out());
    const b = jsonVectors(piped.out());
    expect(b).toHaveLength(2);
    for (const [i, v] of b.entries())
      expect(Math.max(...v.map((x, k) => Math.abs(x - a[i]![k]!)))).toBeLessThan(1e-6);
  });

  it('prints the server’s reason when given a chat model', async () => {
    const c = capture();
    expect(await embed(['cli-chat', 'hello'], c.io)).toBe(1);
    expect(c.err()).toBe(
      "pagoda embed: model 'cli-chat' is a generative model: it serves /v1/chat/completions and /v1/completions, not /v1/embeddings (HTTP 400)\n",
    );
    expect(c.out()).toBe('');
  });

  it('refuses empty input and bad flags before any request', async () => {
    const cases: [string[], string | undefined, RegExp][] = [
      [['cli-emb'], undefined, /give the texts as arguments, or one per line on standard input/],
      [['cli-emb'], '\n  \n', /standard input holds no texts/],
      [['cli-emb', 'a', ''], undefined, /text 2 is empty/],
      [[], undefined, /name the embedding model uid/],
      [['cli-emb', 'a', '--dimensions', '0'], undefined, /--dimensions must be at least 1/],
      [['cli-emb', 'a', '--dimensions', '3.5'], undefined, /--dimensions takes an integer/],
    ];
    for (const [argv, stdin, message] of cases) {
      const c = capture(stdin);
      expect(await embed(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err()).toMatch(message);
      expect(c.err()).toMatch(/usage: pagoda embed/);
      expect(c.requests()).toBe(0);
    }
  });
});

describe('pagoda rerank', () => {
  /** What /v1/rerank answers for the same request, straight from the endpoint. */
  async function endpointResults(body: object) {
    const res = await fetch(`${cluster.server.url}/v1/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ model: 'cli-rr', query: QUERY, documents: DOCS, ...body }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { results: { index: number; relevance_score: number }[] })
      .results;
  }

  it('ranks the documents by the scores /v1/rerank gives, and --top-n cuts', async () => {
    const expected = await endpointResults({});
    expect(expected).toHaveLength(3);
    // The scores differ, so the order is the scores' and not the documents' own.
    expect(new Set(expected.map((r) => r.relevance_score.toFixed(4))).size).toBe(3);
    // With these documents the best is not the first given, so printing in the given order fails here.
    expect(expected.map((r) => r.index)).not.toEqual([0, 1, 2]);
    const json = capture();
    expect(await rerank(['cli-rr', '-q', QUERY, ...DOCS, '--json'], json.io)).toBe(0);
    expect(JSON.parse(json.out())).toEqual(expected);

    const human = capture();
    expect(await rerank(['cli-rr', '--query', QUERY, ...DOCS], human.io)).toBe(0);
    expect(human.out()).toBe(
      [
        'RANK  SCORE   INDEX  DOCUMENT',
        ...expected.map(
          (r, i) =>
            `${i + 1}     ${r.relevance_score.toFixed(4)}  ${r.index}      ${DOCS[r.index]}`,
        ),
        '',
      ].join('\n'),
    );

    const top = capture();
    expect(await rerank(['cli-rr', '-q', QUERY, ...DOCS, '--top-n', '2'], top.io)).toBe(0);
    const rows = top.out().trim().split('\n').slice(1);
    expect(rows).toHaveLength(2);
    expect(rows.map((l) => Number(l.split(/ +/)[2]))).toEqual(
      expected.slice(0, 2).map((r) => r.index),
    );
    const topJson = capture();
    expect(await rerank(['cli-rr', '-q', QUERY, ...DOCS, '-n', '1', '--json'], topJson.io)).toBe(0);
    expect(JSON.parse(topJson.out())).toEqual(await endpointResults({ top_n: 1 }));
  });

  it('reads the documents from standard input, one per line', async () => {
    const c = capture(`${DOCS.join('\n')}\n`);
    expect(await rerank(['cli-rr', '-q', QUERY, '--json'], c.io)).toBe(0);
    expect(JSON.parse(c.out())).toEqual(await endpointResults({}));
  });

  it('relays the refusal of a model that does not rerank', async () => {
    const c = capture();
    expect(await rerank(['cli-emb', '-q', QUERY, ...DOCS], c.io)).toBe(1);
    expect(c.err()).toMatch(
      /model 'cli-emb' is an embedding model: it serves \/v1\/embeddings and \/score, not \/v1\/rerank \(HTTP 400\)/,
    );
  });

  it('refuses a missing query, empty documents and bad flags before any request', async () => {
    const cases: [string[], string | undefined, RegExp][] = [
      [['cli-rr', ...DOCS], undefined, /give the query with --query/],
      [['cli-rr', '-q', ' ', ...DOCS], undefined, /the query is empty/],
      [['cli-rr', '-q', QUERY], undefined, /give the documents as arguments/],
      [['cli-rr', '-q', QUERY], '', /standard input holds no documents/],
      [['cli-rr', '-q', QUERY, 'a', ' '], undefined, /document 2 is empty/],
      [['cli-rr', '-q', QUERY, 'a', '--top-n', '0'], undefined, /--top-n must be at least 1/],
    ];
    for (const [argv, stdin, message] of cases) {
      const c = capture(stdin);
      expect(await rerank(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err()).toMatch(message);
      expect(c.requests()).toBe(0);
    }
  });
});
