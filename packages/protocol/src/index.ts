// Shared types and zod schemas: the OpenAI API as vLLM accepts it, the management API and its views,
// and the server-worker contract. Every shape that crosses a process boundary is declared here once.
export * from './openai/errors.ts';
export * from './cors.ts';
export * from './openai/common.ts';
export * from './openai/completions.ts';
export * from './openai/structured.ts';
export * from './openai/chat.ts';
export * from './openai/responses.ts';
export * from './openai/misc.ts';
export * from './openai/embeddings.ts';
export * from './management.ts';
export * from './cluster.ts';
export * from './views.ts';
export * from './plan-problems.ts';
