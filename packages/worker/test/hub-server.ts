// A local stand-in for the Hugging Face hub's file API, serving ../shared/models/<name> as the repo
// "<owner>/<name>": the tree listing (with LFS sha256 and git blob ids), and resolve with Range.
// Faults for tests: cut a transfer after N bytes, corrupt a file, require a token.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

export interface HubFaults {
  /** file path → cut the connection after this many body bytes, for the next `times` requests. */
  cutAfter?: Map<string, { bytes: number; times: number }>;
  /** file paths served with one byte flipped (the listing keeps the true checksum). */
  corrupt?: Set<string>;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

export interface FakeHub {
  url: string;
  faults: HubFaults;
  /** Range headers of resolve requests, per file, in order ("" for none). */
  ranges: Map<string, string[]>;
  close(): Promise<void>;
}

const isLfs = (path: string) => /\.(safetensors|bin|gguf)$/.test(path);

function listing(dir: string) {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((p) => statSync(join(dir, p)).isFile())
    .sort()
    .map((path) => {
      const body = readFileSync(join(dir, path));
      const gitOid = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
      if (!isLfs(path)) return { type: 'file', path, size: body.length, oid: gitOid };
      const sha256 = createHash('sha256').update(body).digest('hex');
      const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${body.length}\n`;
      const pointerOid = createHash('sha1')
        .update(`blob ${pointer.length}\0${pointer}`)
        .digest('hex');
      return {
        type: 'file',
        path,
        size: body.length,
        oid: pointerOid,
        lfs: { oid: sha256, size: body.length, pointerSize: pointer.length },
      };
    });
}

function notFound(res: ServerResponse, code = 'RepoNotFound') {
  res
    .writeHead(404, { 'content-type': 'application/json', 'x-error-code': code })
    .end(JSON.stringify({ error: `${code}` }));
}

/** Starts the fake hub on a free loopback port, serving folders of `root`. */
export async function startFakeHub(root: string, faults: HubFaults = {}): Promise<FakeHub> {
  const ranges = new Map<string, string[]>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (faults.token && req.headers.authorization !== `Bearer ${faults.token}`) {
      return void res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'Invalid credentials in Authorization header' }));
    }
    const url = new URL(req.url ?? '/', 'http://hub');
    const tree = /^\/api\/models\/([^/]+)\/([^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      let entries;
      try {
        entries = listing(join(root, tree[2]!));
      } catch {
        return notFound(res);
      }
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(entries));
    }
    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!resolve) return notFound(res);
    const path = decodeURIComponent(resolve[4]!);
    let body: Buffer;
    try {
      body = Buffer.from(readFileSync(join(root, resolve[2]!, path)));
    } catch {
      return notFound(res, 'EntryNotFound');
    }
    if (faults.corrupt?.has(path)) {
      const at = Math.floor(body.length / 2);
      body.writeUInt8(body.readUInt8(at) ^ 0xff, at);
    }
    const range = req.headers.range ?? '';
    ranges.set(path, [...(ranges.get(path) ?? []), range]);
    const etag = `"${createHash('sha1').update(body).digest('hex')}"`;
    const m = /^bytes=(\d+)-(\d*)$/.exec(range);
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
    const slice = body.subarray(start, end + 1);
    const headers: Record<string, string | number> = {
      etag,
      'accept-ranges': 'bytes',
      'content-length': slice.length,
      'content-type': 'application/octet-stream',
    };
    if (m) headers['content-range'] = `bytes ${start}-${end}/${body.length}`;
    res.writeHead(m ? 206 : 200, headers);
    const cut = faults.cutAfter?.get(path);
    // The one-byte probe (Range 0-0) is never cut: it is a metadata request, not a transfer.
    if (cut && cut.times > 0 && slice.length > 1) {
      cut.times -= 1;
      res.write(slice.subarray(0, Math.max(0, cut.bytes - start)), () => res.destroy());
      return;
    }
    res.end(slice);
  };
  const server: Server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    ranges,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
