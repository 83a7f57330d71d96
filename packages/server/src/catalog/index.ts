// The model catalog: built-in families, spec look-ups, engines per model, custom registrations.
export * from './architecture.ts';
export * from './family.ts';
export * from './catalog.ts';
export * from './engine-capabilities.ts';
export * from './engines.ts';
export * from './registration.ts';
export * from './gguf-model.ts';
