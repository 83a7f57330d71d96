// Benchmark helper, preloaded into every process of a stream-memory run (NODE_OPTIONS): with
// --expose-gc, SIGUSR2 runs a full collection, so the bench can read a runner's heap without garbage.
import process from 'node:process';

if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
