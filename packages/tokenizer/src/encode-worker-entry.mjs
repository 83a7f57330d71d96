// The tokenizer worker's entry point, in plain JavaScript: Node 20 does not apply the main thread's
// --import loader to a worker's first module, so the TypeScript loader is registered here first.
import { register } from 'tsx/esm/api';

register();
await import('./encode-worker.ts');
