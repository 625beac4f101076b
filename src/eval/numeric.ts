/** Numeric helpers shared by the statistics and the counterfactual estimators. */

/** Neumaier-compensated sum: means over many queries or logs do not drift with n. */
export function compensatedSum(values: Float64Array): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const t = s + v;
    c += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
    s = t;
  }
  return s + c;
}

/** Quantile of sorted values with linear interpolation (numpy's default, Hyndman & Fan type 7). */
export function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
