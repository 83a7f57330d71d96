// Memory planning for launches: per-GPU budgets, placement by free memory, refusals that say what fits.
export * from './engine-params.ts';
export * from './memory.ts';
export * from './placement.ts';
export * from './plan.ts';
