// The logistic fit against closed forms and its own optimality conditions computed here, and the
// cross-validated forecaster's honesty: no row is forecast by a model fitted on it; folds stratified by the label.
import { addRow, bitsetFromFlags, emptyBitset, hasRow } from "../analysis/bitset.ts";
import { SortBuffer } from "../analysis/curves.ts";
import {
  crossValidatedForecast,
  crossValidationPlan,
  fitLogistic,
  stratifiedFolds,
} from "../analysis/logistic.ts";
import { Rng } from "../analysis/random.ts";
import { picoReference } from "./pico_reference.ts";
import { assert, assertAlmostEquals, assertEquals, assertMatch, assertThrows } from "./assert.ts";

const logit = (p: number) => Math.log(p / (1 - p));

Deno.test("fitLogistic: one 0/1 input, unpenalized, is the log-odds of each group (closed form)", () => {
  // x = 0: 3 of 10 rows positive; x = 1: 7 of 8. MLE: β₀ = logit(3/10), β₁ = logit(7/8) − logit(3/10);
  // variances: 1/(n₀p₀q₀) and 1/(n₀p₀q₀) + 1/(n₁p₁q₁).
  const x = new Float64Array(18), y = new Float64Array(18);
  for (let i = 0; i < 18; i++) {
    x[i] = i < 10 ? 0 : 1;
    y[i] = i < 10 ? (i < 3 ? 1 : 0) : (i < 17 ? 1 : 0);
  }
  const fit = fitLogistic(x, 1, y);
  assert(fit.converged);
  assertAlmostEquals(fit.coefficients[0], logit(0.3), 1e-12);
  assertAlmostEquals(fit.coefficients[1], logit(7 / 8) - logit(0.3), 1e-12);
  const v0 = 1 / (10 * 0.3 * 0.7), v1 = 1 / (8 * (7 / 8) * (1 / 8));
  assertAlmostEquals(fit.covariance[0], v0, 1e-10);
  assertAlmostEquals(fit.covariance[3], v0 + v1, 1e-10);
  assertAlmostEquals(fit.covariance[1], -v0, 1e-10);
  // The same counts as two binomial rows with weights give the same fit.
  const grouped = fitLogistic(Float64Array.from([0, 1]), 1, [0.3, 7 / 8], { weights: [10, 8] });
  assertAlmostEquals(grouped.coefficients[1], fit.coefficients[1], 1e-12);
});

Deno.test("fitLogistic: with an L2 penalty the penalized gradient is zero (computed here), even if separable", () => {
  const rng = new Rng(3),
    rows = 400,
    columns = 3,
    x = new Float64Array(rows * columns),
    y = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) x[i * columns + j] = rng.uniform() * 4 - 2;
    y[i] = x[i * columns] + 0.5 * x[i * columns + 1] > 0.3 ? 1 : 0; // perfectly separable
  }
  const l2 = 0.5, fit = fitLogistic(x, columns, y, { l2 });
  assert(fit.converged, "converges despite separation");
  const b = fit.coefficients, gradient = new Float64Array(columns + 1);
  for (let i = 0; i < rows; i++) {
    let eta = b[0];
    for (let j = 0; j < columns; j++) eta += b[j + 1] * x[i * columns + j];
    const r = y[i] - 1 / (1 + Math.exp(-eta));
    gradient[0] += r;
    for (let j = 0; j < columns; j++) gradient[j + 1] += r * x[i * columns + j];
  }
  for (let j = 1; j <= columns; j++) gradient[j] -= l2 * b[j];
  for (const g of gradient) assertAlmostEquals(g, 0, 1e-8);
  assert(b[1] > 0 && b[2] > 0 && Math.abs(b[3]) < b[2], "the informative inputs carry the weight");
});

/** AP of a forecast (NaN = none) by brute force over distinct values. */
function plainAp(values: ArrayLike<number>, labels: boolean[]): number {
  const rows = [...Array(values.length).keys()].filter((i) => !Number.isNaN(values[i]));
  const positives = rows.filter((i) => labels[i]).length;
  const distinct = [...new Set(rows.map((i) => values[i]))].sort((a, b) => b - a);
  let ap = 0, previous = 0;
  for (const t of distinct) {
    let tp = 0, fp = 0;
    for (const i of rows) if (values[i] >= t) labels[i] ? tp++ : fp++;
    ap += (tp / positives - previous) * (tp / (tp + fp));
    previous = tp / positives;
  }
  return ap;
}

Deno.test("cross-validated forecaster: held out, counted, compared with each input alone", () => {
  const rng = new Rng(8), n = 3000, labels: boolean[] = [];
  const strong = new Float64Array(n), weak = new Float64Array(n), copies = new Uint32Array(n);
  const index = Float64Array.from({ length: n }, (_, i) => 1000 + 3 * i);
  for (let i = 0; i < n; i++) {
    const latent = rng.uniform();
    labels.push(latent > 0.93);
    strong[i] = Math.round(32 * Math.min(1, Math.max(0, latent + 0.3 * (rng.uniform() - 0.5))));
    weak[i] = latent + 2 * (rng.uniform() - 0.5);
    copies[i] = latent > 0.9 && rng.uniform() < 0.5 ? 3 : 1;
  }
  weak[5] = NaN; // one row without an input gets no forecast
  const inputs = [
    { name: "strong", values: strong, compute_fraction: 0.1 },
    { name: "weak", values: weak, compute_fraction: 0.05 },
    { name: "copies", values: copies, compute_fraction: 0, transform: "log1p" as const },
  ];
  const memorized = bitsetFromFlags(labels.map(Number));
  const cv = crossValidatedForecast(inputs, memorized, index, "t", { fitRows: 1000 });
  const { forecast } = cv, logOdds = cv.logOdds!;
  assertEquals(forecast.rows, n - 1);
  assertEquals(forecast.positives, labels.filter((l, i) => l && i !== 5).length);
  assert(Number.isNaN(logOdds[5]));
  assertEquals(forecast.inputs.map((i) => i.compute_fraction), [0.1, 0.05, 0]);
  assertEquals(forecast.fit_rows, [1000, 1000, 1000, 1000, 1000]);
  assertAlmostEquals(forecast.curve.average_precision!, plainAp(logOdds, labels), 1e-12);
  // As the report runs it: the log-odds kept in a sort buffer and sorted there in place (not returned).
  const inBuffer = crossValidatedForecast(inputs, memorized, index, "t", {
    fitRows: 1000,
    sortBuffer: new SortBuffer(),
  });
  assertEquals(inBuffer.logOdds, null);
  assertAlmostEquals(inBuffer.forecast.curve.average_precision!, plainAp(logOdds, labels), 1e-12);
  const rest = labels.map((l, i) => i === 5 ? false : l);
  const mask = (v: ArrayLike<number>) => Array.from(v, (x, i) => i === 5 ? NaN : x);
  assertAlmostEquals(forecast.inputs[0].average_precision!, plainAp(mask(strong), rest), 1e-12);
  assertAlmostEquals(forecast.inputs[1].average_precision!, plainAp(mask(weak), rest), 1e-12);
  assertAlmostEquals(forecast.inputs[2].average_precision!, plainAp(mask(copies), rest), 1e-12);
  assert(
    forecast.curve.average_precision! > forecast.inputs[1].average_precision!,
    "combining beats the weak input alone",
  );
  assert(forecast.inputs[0].coefficient > 0 && forecast.inputs[2].coefficient > 0);
  // Honesty: a row moved far off (its inputs) moves no forecast of its own fold (whose model never saw it), and
  // moves the others'. The folds are the stratified ones (checked below).
  const present = emptyBitset(n);
  for (let i = 0; i < n; i++) if (i !== 5) addRow(present, i);
  const fold = stratifiedFolds(present, memorized, n, 5, 1);
  for (const r of [0, 17, 2999]) {
    const moved = inputs.map((input) => ({
      ...input,
      values: Array.from(input.values, (v, i) => i === r ? 50 : v),
    }));
    const again = crossValidatedForecast(moved, memorized, index, "t", { fitRows: 1e9 }).logOdds!;
    const before = crossValidatedForecast(inputs, memorized, index, "t", { fitRows: 1e9 }).logOdds!;
    for (let i = 0; i < n; i++) {
      if (i === r || i === 5) continue;
      assertEquals(again[i] === before[i], fold[i] === fold[r], `row ${i} (fold ${fold[i]}), row ${r} moved`);
    }
  }
  // With every row in the fits, the folds' training rows add up to (folds − 1) × rows.
  const full = crossValidatedForecast(inputs, memorized, index, "t", { fitRows: 1e9 }).forecast;
  assertEquals(full.fit_rows.reduce((a, b) => a + b), 4 * (n - 1));
});

Deno.test("cross-validated forecaster on the pico suite: pico-1 and pico-2 scores forecast pico-3@step1092", async () => {
  const reference = await picoReference();
  const labels = reference.get("pico-3@step1092")!.map((r) => r.score === 1);
  const column = (source: string) =>
    Float64Array.from(reference.get(source)!, (r) => Math.round(r.score * 32));
  const inputs = ["pico-1@step1092", "pico-2@step1092", "pico-3@step546"].map((source) => ({
    name: `${source} score`,
    values: column(source),
    compute_fraction: null,
  }));
  const index = Float64Array.from(labels.keys());
  const { forecast, logOdds } = crossValidatedForecast(
    inputs,
    bitsetFromFlags(labels.map(Number)),
    index,
    "t",
  );
  assertEquals([forecast.rows, forecast.positives], [2048, 12]);
  assertAlmostEquals(forecast.curve.average_precision!, plainAp(logOdds!, labels), 1e-12);
  inputs.forEach((input, j) =>
    assertAlmostEquals(forecast.inputs[j].average_precision!, plainAp(input.values, labels), 1e-12)
  );
});

Deno.test("cross-validated forecaster: folds stratified by the label, fewer when fewer memorized rows", () => {
  // 3 memorized rows of 192, which a hash of the row index (seed 1) put in one fold of 5 on the demo: that
  // fold's model saw no memorized row and ranked them last (AP at the base rate beside an input at 100%).
  const n = 192, labels = Array.from({ length: n }, (_, i) => [1, 93, 131].includes(i));
  const memorized = bitsetFromFlags(labels.map(Number)),
    index = Float64Array.from({ length: n }, (_, i) => i);
  const perfect = Float64Array.from(labels, (l, i) => l ? 20 + (i % 7) : i % 11);
  const noise = Float64Array.from({ length: n }, (_, i) => (i * 37) % 23);
  const inputs = [
    { name: "perfect", values: perfect, compute_fraction: 0.3 },
    { name: "noise", values: noise, compute_fraction: 0 },
  ];
  const { forecast } = crossValidatedForecast(inputs, memorized, index, "t");
  assertEquals([forecast.folds, forecast.folds_requested, forecast.positives], [3, 5, 3]);
  assertEquals(forecast.fit_rows, [128, 128, 128]); // each fold's model fitted on 2 memorized rows of 3
  assertEquals(forecast.curve.average_precision, 1);
  assertEquals(forecast.inputs[0].average_precision, 1);
  // Every fold holds its share of each class (±1), for any count and seed.
  for (const [count, folds, seed] of [[3, 3, 1], [12, 5, 1], [12, 5, 9], [7, 4, 2]]) {
    const flags = Array.from({ length: 500 }, (_, i) => i % Math.floor(500 / count) === 3 && i < 490);
    const present = emptyBitset(500);
    for (let i = 0; i < 500; i++) if (i % 13 !== 0) addRow(present, i);
    const fold = stratifiedFolds(present, bitsetFromFlags(flags.map(Number)), 500, folds, seed);
    for (const cls of [true, false]) {
      const per = Array(folds).fill(0);
      for (let i = 0; i < 500; i++) if (hasRow(present, i) && flags[i] === cls) per[fold[i]]++;
      assert(
        Math.max(...per) - Math.min(...per) <= 1,
        `${count} memorized, ${folds} folds, seed ${seed}: ${per}`,
      );
    }
  }
  // One memorized row cannot be both fitted on and held out: no honest forecast, and the plan says why.
  const one = bitsetFromFlags(labels.map((l, i) => Number(l && i === 93)));
  const plan = crossValidationPlan(inputs, one, n);
  assertEquals(plan.folds, 1);
  assertMatch(plan.unfit!, /only 1 row is memorized and 191 not among the 192 rows with every input/);
  assertThrows(() => crossValidatedForecast(inputs, one, index, "t"));
});
