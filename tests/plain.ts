// Plain computations that tests check the analyses against (brute-force loops, Maps and Sets, formulas written
// out): scikit-learn's precision–recall definitions, Wilson's interval, the Poisson bootstrap of AP, a binomial
// logistic fit by Newton's method, and the text features. Not a test file: it registers no tests.
import { deflateRawSync } from "node:zlib";
import { openRowSource } from "../io/rows.ts";
import type { Rng } from "../analysis/random.ts";

export const LEVELS = [0.5, 0.8, 0.9, 0.95];
const Z = 1.959963984540054;

/** Every distinct value as a threshold, counted by brute force: sklearn's definitions written out. For each
 *  precision level, the operating point: the first threshold with the largest recall at that precision. */
export function plainCurve(values: number[], labels: boolean[], higher = true) {
  const rows = values.map((_, i) => i).filter((i) => !Number.isNaN(values[i]));
  const better = (a: number, b: number) => higher ? a > b : a < b;
  const distinct = [...new Set(rows.map((i) => values[i]))].sort((a, b) =>
    better(a, b) ? -1 : better(b, a) ? 1 : 0
  );
  let positives = 0;
  for (const i of rows) if (labels[i]) positives++;
  const points = distinct.map((t) => {
    let tp = 0, fp = 0;
    for (const i of rows) {
      if (values[i] === t || better(values[i], t)) {
        if (labels[i]) tp++;
        else fp++;
      }
    }
    return { t, tp, fp, precision: tp / (tp + fp), recall: tp / positives };
  });
  let ap = 0, previous = 0;
  for (const p of points) {
    ap += (p.recall - previous) * p.precision;
    previous = p.recall;
  }
  const operating = LEVELS.map((level) => {
    let best: (typeof points)[number] | null = null;
    for (const p of points) if (p.precision >= level && p.recall > (best?.recall ?? 0)) best = p;
    return best;
  });
  const rap = operating.map((p) => p?.recall ?? 0);
  return { rows: rows.length, positives, points, ap, rap, operating };
}

/** Wilson's 95% score interval of k successes in n trials, the formula written out. */
export function plainWilson(k: number, n: number): { low: number; high: number } | null {
  if (n === 0) return null;
  const p = k / n, z2 = Z * Z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = Z * Math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** numpy's default quantile (linear between order statistics). */
export function plainQuantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b), h = (s.length - 1) * q, lo = Math.floor(h);
  return lo + 1 < s.length ? s[lo] + (h - lo) * (s[lo + 1] - s[lo]) : s[lo];
}

/**
 * The Poisson bootstrap of a ranking's AP and recall at each level, from the rows: each threshold holding a
 * memorized row is a cell (its memorized rows, and the other rows since the previous such threshold); cells are
 * then merged `merge` at a time. Each resample draws Poisson(count) for a cell's memorized rows, then for its
 * others, cell by cell, from `rng`; percentile 95% intervals, moved by exact − merged estimates.
 */
export function plainBootstrap(
  values: number[],
  labels: boolean[],
  rng: Rng,
  options: { higher?: boolean; resamples?: number; merge?: number } = {},
) {
  const curve = plainCurve(values, labels, options.higher ?? true);
  const cells: [number, number][] = [];
  let previous = { tp: 0, fp: 0 }, pending = 0;
  for (const p of curve.points) {
    const pos = p.tp - previous.tp, neg = p.fp - previous.fp;
    if (pos > 0) {
      cells.push([pos, pending + neg]);
      pending = 0;
    } else pending += neg;
    previous = p;
  }
  const size = options.merge ?? 1, merged: [number, number][] = [];
  cells.forEach(([p, n], j) => {
    if (j % size === 0) merged.push([0, 0]);
    merged.at(-1)![0] += p;
    merged.at(-1)![1] += n;
  });
  const metrics = (cs: [number, number][]) => {
    const total = cs.reduce((s, c) => s + c[0], 0);
    let tp = 0, fp = 0, ap = 0;
    const best = LEVELS.map(() => 0);
    for (const [p, n] of cs) {
      tp += p;
      fp += n;
      if (p === 0) continue;
      ap += (p / total) * (tp / (tp + fp));
      LEVELS.forEach((level, l) => {
        if (tp / (tp + fp) >= level && tp / total > best[l]) best[l] = tp / total;
      });
    }
    return total === 0 ? null : { ap, rap: best };
  };
  const aps: number[] = [], raps: number[][] = LEVELS.map(() => []);
  for (let b = 0; b < (options.resamples ?? 200); b++) {
    const drawn = merged.map(([p, n]) => [rng.poisson(p), rng.poisson(n)] as [number, number]);
    const m = metrics(drawn);
    if (!m) continue;
    aps.push(m.ap);
    m.rap.forEach((r, l) => raps[l].push(r));
  }
  const exact = metrics(cells)!, approx = metrics(merged)!;
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  const interval = (xs: number[], shift: number) => ({
    low: clamp(plainQuantile(xs, 0.025) + shift),
    high: clamp(plainQuantile(xs, 0.975) + shift),
  });
  return {
    cells: cells.length,
    resampled: merged.length,
    ap: interval(aps, exact.ap - approx.ap),
    rap: raps.map((xs, l) => interval(xs, exact.rap[l] - approx.rap[l])),
  };
}

/**
 * Maximum likelihood of logit(successes/trials) = a + b·x by Newton's method on the 2×2 system, with the
 * covariance scaled by the Pearson dispersion (at least 1) when there are more than two points.
 */
export function plainBinomialFit(x: number[], successes: number[], trials: number[]) {
  let a = 0, b = 0;
  const sigmoid = (e: number) => 1 / (1 + Math.exp(-e));
  let h = [0, 0, 0];
  for (let it = 0; it < 200; it++) {
    let ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    x.forEach((xi, i) => {
      const mu = sigmoid(a + b * xi), w = trials[i] * mu * (1 - mu);
      ga += successes[i] - trials[i] * mu;
      gb += (successes[i] - trials[i] * mu) * xi;
      haa += w;
      hab += w * xi;
      hbb += w * xi * xi;
    });
    const det = haa * hbb - hab * hab;
    const da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    a += da;
    b += db;
    h = [haa, hab, hbb];
    if (Math.abs(da) < 1e-13 && Math.abs(db) < 1e-13) break;
  }
  let chi2 = 0;
  x.forEach((xi, i) => {
    const mu = sigmoid(a + b * xi), y = successes[i] / trials[i];
    chi2 += trials[i] * (y - mu) ** 2 / (mu * (1 - mu));
  });
  const dispersion = x.length > 2 ? Math.max(1, chi2 / (x.length - 2)) : 1;
  const det = h[0] * h[2] - h[1] * h[1];
  const vaa = dispersion * h[2] / det, vab = -dispersion * h[1] / det, vbb = dispersion * h[0] / det;
  /** ln(compute) where the law reaches `level`, and its 95% interval by the delta method. */
  const at = (level: number) => {
    const logit = Math.log(level / (1 - level)), lnc = (logit - a) / b;
    const ga = -1 / b, gb = -(logit - a) / (b * b);
    const se = Math.sqrt(ga * ga * vaa + 2 * ga * gb * vab + gb * gb * vbb);
    return { value: Math.exp(lnc), low: Math.exp(lnc - Z * se), high: Math.exp(lnc + Z * se) };
  };
  return { a, b, se_a: Math.sqrt(vaa), se_b: Math.sqrt(vbb), dispersion, at };
}

/** The tokens of each row's window, as plain arrays. */
export async function windowsOf(
  data: string,
  rows: ArrayLike<number>,
  w: { prompt: number; continuation: number; offset: number },
): Promise<number[][]> {
  const source = await openRowSource(data);
  try {
    const length = w.prompt + w.continuation, tokens = await source.read(rows, w.offset, length);
    return Array.from({ length: rows.length }, (_, i) => [...tokens.subarray(i * length, (i + 1) * length)]);
  } finally {
    source.close();
  }
}

/** The text features of each window with string keys, Maps and Sets (deflate is the reference: Python's
 *  zlib.compress(..., 6, wbits=-15)). */
export function plainFeatures(windows: number[][], prompt: number) {
  const key = (t: number[]) => t.join(",");
  const windowCount = new Map<string, number>(), promptCount = new Map<string, number>();
  const unigram = new Map<number, number>();
  let total = 0;
  for (const t of windows) {
    windowCount.set(key(t), (windowCount.get(key(t)) ?? 0) + 1);
    const p = key(t.slice(0, prompt));
    promptCount.set(p, (promptCount.get(p) ?? 0) + 1);
    for (const x of t) {
      unigram.set(x, (unigram.get(x) ?? 0) + 1);
      total++;
    }
  }
  return windows.map((t) => {
    const bytes = new Uint8Array(t.length * 2);
    t.forEach((x, p) => {
      bytes[2 * p] = x & 0xff;
      bytes[2 * p + 1] = x >> 8;
    });
    let logs = 0;
    for (const x of t) logs += Math.log(unigram.get(x)! / total);
    return {
      windowCopies: windowCount.get(key(t))!,
      promptCopies: promptCount.get(key(t.slice(0, prompt)))!,
      compressed: deflateRawSync(bytes, { level: 6 }).length,
      distinct: new Set(t).size,
      meanLogFrequency: logs / t.length,
    };
  });
}
