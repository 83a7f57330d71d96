// Free TCP ports for runners, asked of the kernel and never handed out twice by this worker.
import { createServer } from 'node:net';

const handedOut = new Set<number>();

function askKernel(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('the kernel gave no port'))));
    });
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await askKernel(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port after 20 tries');
}

export function releasePort(port: number): void {
  handedOut.delete(port);
}
