// The benchmarks' arithmetic, one definition for all of them.

/** One decimal, as every figure is reported. */
export const round = (x: number): number => Math.round(x * 10) / 10;

/** The q-quantile by the nearest-rank method (NaN for no samples). */
export function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
