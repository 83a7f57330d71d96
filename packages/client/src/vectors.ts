// Arithmetic on embedding vectors that the CLI and the dashboard show.

/** The Euclidean length of a vector. */
export function vectorNorm(v: readonly number[]): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

/** The cosine of two vectors; 0 when either is all zeros (it has no direction). */
export function cosine(a: readonly number[], b: readonly number[]): number {
  let ab = 0;
  for (let i = 0; i < a.length; i++) ab += a[i]! * b[i]!;
  const d = vectorNorm(a) * vectorNorm(b);
  return d === 0 ? 0 : ab / d;
}
