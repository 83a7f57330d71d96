// The worker-thread side of BackgroundEncoder: loads one model folder's tokenizer and encodes the texts
// it is sent, one at a time, off the main thread's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { Tokenizer } from './tokenizer.ts';

export interface EncodeJob {
  id: number;
  text: string;
  addSpecialTokens: boolean;
}
export type EncodeReply = { id: number; ids: Int32Array } | { id: number; error: string };

const tokenizer = Tokenizer.fromDir((workerData as { dir: string }).dir);
parentPort!.on('message', (job: EncodeJob) => {
  let reply: EncodeReply;
  try {
    reply = { id: job.id, ids: Int32Array.from(tokenizer.encode(job.text, { addSpecialTokens: job.addSpecialTokens })) };
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply, 'ids' in reply ? [reply.ids.buffer as ArrayBuffer] : []);
});
