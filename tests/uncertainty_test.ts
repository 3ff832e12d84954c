// Intervals, tests of significance, the seeded generator and the compute law against values known in closed
// form or computed here by plain loops.
import { bitsetFromFlags } from "../analysis/bitset.ts";
import { precisionRecall } from "../analysis/curves.ts";
import { chiSquareSf, gammaQ, logGamma, normalSf, Z95 } from "../analysis/distributions.ts";
import { hashIndex, Rng } from "../analysis/random.ts";
import { memorizationOverTraining } from "../analysis/training_order.ts";
import { bootstrapRanking, fitComputeLaw, quantile, tooUncertain, wilson } from "../analysis/uncertainty.ts";
import { picoReference } from "./pico_reference.ts";
import { assert, assertAlmostEquals, assertEquals } from "./assert.ts";

const close = (actual: number, expected: number, relative: number, what = "") =>
  assert(
    Math.abs(actual - expected) <= relative * Math.abs(expected),
    `${what}: ${actual} is not within ${relative} (relative) of ${expected}`,
  );

Deno.test("distributions: chi-square and normal tails against closed forms and the 68-95-99.7 rule", () => {
  // ln Γ: Γ(1/2) = √π, Γ(n) = (n−1)!.
  assertAlmostEquals(logGamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-14);
  assertAlmostEquals(logGamma(10), Math.log(362880), 1e-13);
  assertAlmostEquals(logGamma(21), Math.log(2432902008176640000), 1e-12);
  for (const x of [0.1, 0.5, 3, 7.5, 20, 80]) {
    close(chiSquareSf(x, 2), Math.exp(-x / 2), 1e-13, `df 2 at ${x}`); // Q(1, x/2) = e^(−x/2)
    close(chiSquareSf(x, 4), Math.exp(-x / 2) * (1 + x / 2), 1e-13, `df 4 at ${x}`);
    close(chiSquareSf(x, 6), Math.exp(-x / 2) * (1 + x / 2 + x * x / 8), 1e-13, `df 6 at ${x}`);
  }
  // df 1: P(|Z| ≥ 1, 2, 3) = 1 − 0.6826894921370859, 1 − 0.9544997361036416, 1 − 0.9973002039367398.
  const tails = [[1, 0.31731050786291404], [4, 0.04550026389635842], [9, 0.002699796063260207]];
  for (const [x, p] of tails) {
    close(chiSquareSf(x, 1), p, 1e-12, `df 1 at ${x}`);
    // Q(3/2, y) = Q(1/2, y) + √y·e^(−y)/Γ(3/2), Γ(3/2) = √π/2.
    close(chiSquareSf(x, 3), p + Math.sqrt(x / 2) * Math.exp(-x / 2) / (Math.sqrt(Math.PI) / 2), 1e-12);
    close(normalSf(Math.sqrt(x)), p / 2, 1e-12, `normal at ${Math.sqrt(x)}`);
    close(normalSf(-Math.sqrt(x)), 1 - p / 2, 1e-14);
  }
  close(normalSf(Z95), 0.025, 1e-13);
  close(normalSf(10), 7.619853024160527e-24, 1e-9, "far tail");
  assertEquals([chiSquareSf(0, 3), gammaQ(2, 0)], [1, 1]);
});

Deno.test("Rng: xoshiro128** reference stream, uniform range, Poisson mean and variance", () => {
  // The reference implementation from state {1, 2, 3, 4} starts 11520, 0, 5927040 (worked out by hand from
  // the update rule: result = rotl(s1·5, 7)·9).
  const r = Rng.fromState(1, 2, 3, 4);
  assertEquals([r.nextUint32(), r.nextUint32(), r.nextUint32()], [11520, 0, 5927040]);
  const a = new Rng(42), b = new Rng(42);
  const us = Array.from({ length: 1000 }, () => a.uniform());
  assertEquals(us, Array.from({ length: 1000 }, () => b.uniform()));
  assert(us.every((u) => u >= 0 && u < 1));
  for (const lambda of [0.5, 1, 3, 9.5, 25, 1000, 1e6]) {
    const draws = 20000, rng = new Rng(Math.round(lambda * 7));
    let sum = 0, sq = 0;
    for (let i = 0; i < draws; i++) {
      const k = rng.poisson(lambda);
      assert(Number.isInteger(k) && k >= 0);
      sum += k;
      sq += k * k;
    }
    const mean = sum / draws, variance = sq / draws - mean * mean;
    // Means within 5 standard errors, variances within 10% (both are lambda).
    assert(Math.abs(mean - lambda) < 5 * Math.sqrt(lambda / draws), `Poisson(${lambda}) mean ${mean}`);
    assert(Math.abs(variance / lambda - 1) < 0.1, `Poisson(${lambda}) variance ${variance}`);
  }
  // Folds by hash: about a fifth of the rows in each, and different seeds give different folds.
  const counts = [0, 0, 0, 0, 0];
  let moved = 0;
  for (let i = 0; i < 10000; i++) {
    counts[hashIndex(i, 1) % 5]++;
    if (hashIndex(i, 1) % 5 !== hashIndex(i, 2) % 5) moved++;
  }
  assert(counts.every((c) => Math.abs(c - 2000) < 150), `fold sizes ${counts}`);
  assert(moved > 7000, `${moved} rows change fold with the seed`);
  assert(hashIndex(2 ** 40 + 3, 1) !== hashIndex(3, 1), "the high bits of an index count");
});

Deno.test("Wilson intervals: closed forms at 0 and n, the formula written out at 8/10", () => {
  const z2 = Z95 * Z95;
  assertEquals(wilson(0, 10)!.low, 0);
  assertAlmostEquals(wilson(0, 10)!.high, z2 / (10 + z2), 1e-15); // 0.2775…
  assertAlmostEquals(wilson(10, 10)!.low, 10 / (10 + z2), 1e-15);
  const p = 0.8, n = 10, centre = (p + z2 / 20) / (1 + z2 / 10);
  const half = Z95 * Math.sqrt(p * 0.2 / n + z2 / 400) / (1 + z2 / 10);
  assertAlmostEquals(wilson(8, 10)!.low, centre - half, 1e-15);
  assertAlmostEquals(wilson(8, 10)!.high, centre + half, 1e-15);
  assertAlmostEquals(wilson(8, 10)!.low, 0.4901624, 1e-6); // the textbook value
  assertEquals(wilson(0, 0), null);
});

Deno.test("tooUncertain: fewer than 10 memorized rows, or an interval wider than 30 points", () => {
  assert(tooUncertain(9, { low: 0.5, high: 0.6 })!.includes("only 9"));
  assert(tooUncertain(50, { low: 0.2, high: 0.6 })!.includes("40 percentage points"));
  assertEquals(tooUncertain(50, { low: 0.4, high: 0.6 }), null);
  assertEquals(quantile([4, 1, 3, 2], 0.25), 1.75);
});

/** AP of weighted rows (each row counted w times), by brute force over distinct values. */
function weightedAp(values: number[], labels: boolean[], weights: number[]): number | null {
  let positives = 0;
  labels.forEach((l, i) => positives += l ? weights[i] : 0);
  if (positives === 0) return null;
  const distinct = [...new Set(values)].sort((a, b) => b - a);
  let ap = 0, previous = 0;
  for (const t of distinct) {
    let tp = 0, fp = 0;
    values.forEach((v, i) => {
      if (v >= t) labels[i] ? tp += weights[i] : fp += weights[i];
    });
    if (tp + fp === 0) continue;
    ap += (tp / positives - previous) * (tp / (tp + fp));
    previous = tp / positives;
  }
  return ap;
}

Deno.test("bootstrap of AP over cells matches a row-by-row Poisson bootstrap done here", () => {
  const rng = new Rng(5), values: number[] = [], labels: boolean[] = [];
  for (let i = 0; i < 600; i++) {
    const k = Math.floor(rng.uniform() * 11);
    values.push(k);
    labels.push(rng.uniform() < 0.02 + 0.05 * k);
  }
  const { curve, ranking } = precisionRecall(Uint8Array.from(values), bitsetFromFlags(labels.map(Number)), {
    predictor: "p",
    target: "t",
    feature: "score",
  });
  const cells = bootstrapRanking(ranking, { resamples: 400, seed: 9 });
  assertEquals(bootstrapRanking(ranking, { resamples: 400, seed: 9 }), cells, "same seed, same interval");
  const aps: number[] = [], rowRng = new Rng(77);
  for (let b = 0; b < 400; b++) {
    const ap = weightedAp(values, labels, values.map(() => rowRng.poisson(1)));
    if (ap !== null) aps.push(ap);
  }
  aps.sort((a, b) => a - b);
  const low = aps[Math.round(0.025 * (aps.length - 1))], high = aps[Math.round(0.975 * (aps.length - 1))];
  const interval = cells.average_precision!;
  assert(interval.low < curve.average_precision! && curve.average_precision! < interval.high);
  assert(Math.abs(interval.low - low) < 0.03, `low ${interval.low} vs rows ${low}`);
  assert(Math.abs(interval.high - high) < 0.03, `high ${interval.high} vs rows ${high}`);
  assertEquals(
    bootstrapRanking({ positives: new Float64Array(0), negatives: new Float64Array(0) }).average_precision,
    null,
  );
});

Deno.test("compute law: recovers a known logit-linear law, its standard errors and the compute for 50%/90%", () => {
  const a = 1.5, b = 0.8, computes = [0.02, 0.05, 0.2, 0.5], trials = 1000;
  const points = computes.map((c) => ({
    compute_fraction: c,
    successes: trials / (1 + Math.exp(-(a + b * Math.log(c)))),
    trials,
  }));
  const { law, note } = fitComputeLaw(points);
  assert(law, note ?? "");
  assertAlmostEquals(law.a, a, 1e-8);
  assertAlmostEquals(law.b, b, 1e-8);
  assertEquals(law.dispersion, 1); // an exact fit: Pearson χ² = 0
  // Binomial Fisher information I = Σ n·μ(1−μ)·[1 x; x x²] at the truth; the errors are √diag(I⁻¹).
  let s0 = 0, s1 = 0, s2 = 0;
  for (const c of computes) {
    const x = Math.log(c), mu = 1 / (1 + Math.exp(-(a + b * x))), w = trials * mu * (1 - mu);
    s0 += w;
    s1 += w * x;
    s2 += w * x * x;
  }
  const det = s0 * s2 - s1 * s1;
  assertAlmostEquals(law.se_a, Math.sqrt(s2 / det), 1e-8);
  assertAlmostEquals(law.se_b, Math.sqrt(s0 / det), 1e-8);
  // y = 0.5 at ln c = −a/b; y = 0.9 at ln c = (ln 9 − a)/b.
  assertAlmostEquals(law.compute_for["0.5"]!.compute_fraction, Math.exp(-a / b), 1e-8);
  assertAlmostEquals(law.compute_for["0.9"]!.compute_fraction, Math.exp((Math.log(9) - a) / b), 1e-8);
  assertEquals(law.compute_for["0.5"]!.extrapolated, false);
  assertEquals(law.compute_for["0.9"]!.extrapolated, true); // 1.04 of the target's compute: beyond 0.5
  const c50 = law.compute_for["0.5"]!;
  assert(c50.low < c50.compute_fraction && c50.compute_fraction < c50.high);
  assertEquals(law.curve.length, 64);
  assertAlmostEquals(law.curve.at(-1)!.compute_fraction, 1, 1e-12);
  // Too few points, nothing to fit.
  assertEquals(fitComputeLaw(points.slice(0, 1)).law, null);
  assertEquals(fitComputeLaw(points.map((p) => ({ ...p, successes: 0 }))).law, null);
  assert(fitComputeLaw(points.slice(0, 2)).note!.includes("two predictors"));
});

Deno.test("training order: buckets, chi-square and trend by plain loops; a flat case; pico-3", async () => {
  // Three buckets of 100 steps (rows_per_step 2): memorized 5, 10, 40 of 200 rows each, spread evenly.
  const rows: number[] = [], flags: number[] = [];
  for (let i = 0; i < 600; i++) {
    rows.push(i);
    const bucket = Math.floor(i / 200), k = i % 200;
    flags.push(k % [40, 20, 5][bucket] === 0 ? 1 : 0);
  }
  const order = memorizationOverTraining(rows, bitsetFromFlags(flags), 2, "m@s", 3);
  assertEquals(order.buckets.map((b) => [b.first_step, b.last_step, b.rows, b.memorized]), [
    [0, 99, 200, 5],
    [100, 199, 200, 10],
    [200, 299, 200, 40],
  ]);
  // χ² = Σ over the 2×3 table of (O − E)²/E, E = 200·55/600 memorized, the rest not.
  let chi2 = 0;
  const e = 200 * 55 / 600;
  for (const m of [5, 10, 40]) chi2 += (m - e) ** 2 / e + (200 - m - (200 - e)) ** 2 / (200 - e);
  assertAlmostEquals(order.homogeneity!.statistic, chi2, 1e-10);
  assertEquals(order.homogeneity!.df, 2);
  assertAlmostEquals(order.homogeneity!.p_value, Math.exp(-chi2 / 2), 1e-15); // df 2: e^(−x/2)
  // Trend, row by row with steps sᵢ = ⌊i/2⌋.
  const steps = rows.map((i) => Math.floor(i / 2)), mean = steps.reduce((x, y) => x + y) / 600, p = 55 / 600;
  let num = 0, spread = 0;
  steps.forEach((s, i) => {
    num += flags[i] * (s - mean);
    spread += (s - mean) ** 2;
  });
  const z = num / Math.sqrt(p * (1 - p) * spread);
  assertAlmostEquals(order.trend!.z, z, 1e-10);
  assert(order.trend!.z > 4 && order.trend!.p_value < 1e-4, "a clear rise at the end");
  // Flat: the same fraction in every bucket gives χ² = 0, p = 1.
  const flat = memorizationOverTraining(
    rows,
    bitsetFromFlags(rows.map((i) => i % 10 === 0 ? 1 : 0)),
    2,
    "f",
    3,
  );
  assertEquals([flat.homogeneity!.statistic, flat.homogeneity!.p_value], [0, 1]);
  assertEquals(
    memorizationOverTraining(rows, bitsetFromFlags(rows.map(() => 0)), 2, "none").homogeneity,
    null,
  );
  // pico-3@step1092, rows 0..2047 at 64 rows a step (steps 0..31), 4 buckets of 8 steps.
  const target = (await picoReference()).get("pico-3@step1092")!;
  const pico = memorizationOverTraining(
    [...target.keys()],
    bitsetFromFlags(target.map((r) => r.score === 1 ? 1 : 0)),
    64,
    "pico-3@step1092",
    4,
  );
  const expected = [0, 1, 2, 3].map((b) =>
    target.slice(b * 512, (b + 1) * 512).filter((r) => r.score === 1).length
  );
  assertEquals(pico.buckets.map((b) => b.memorized), expected);
  assertEquals(pico.buckets.map((b) => b.rows), [512, 512, 512, 512]);
  assert(pico.note!.includes("< 5"), "12 memorized rows in 4 buckets: expected counts of 3");
});
