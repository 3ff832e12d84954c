// The report's forecasts beyond the memorized sets (curves, intervals, text features, the combined forecaster,
// scaling fits, training order, the advice with thresholds) against plain computations in tests/plain.ts, on the
// pico reference and on hand-made results whose answers are worked out below, ties included.
import { bitsetFromFlags } from "../analysis/bitset.ts";
import { chiSquareSf, normalSf } from "../analysis/distributions.ts";
import { crossValidatedForecast } from "../analysis/logistic.ts";
import { Rng } from "../analysis/random.ts";
import type { CurveEntry } from "../analysis/ranked.ts";
import { computeReport, type Report, writeReport } from "../analysis/report.ts";
import { reportMarkdown } from "../analysis/html.ts";
import { reportCommand } from "../cli/report.ts";
import { TEXT_FEATURES } from "../analysis/text_features.ts";
import { join } from "../base/path.ts";
import { PICO_DATA, PICO_META, PICO_REFERENCE, picoPath } from "../io/pico.ts";
import { picoReference } from "./pico_reference.ts";
import { type Provenance, writeResults } from "../io/results.ts";
import { withTempDir } from "./helpers.ts";
import { assert, assertAlmostEquals, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import {
  plainBinomialFit,
  plainBootstrap,
  plainCurve,
  plainFeatures,
  plainWilson,
  windowsOf,
} from "./plain.ts";

const REFERENCE = picoPath(PICO_REFERENCE), META = picoPath(PICO_META), DATA = picoPath(PICO_DATA);
const TARGET = "pico-3@step1092";
const LEVEL_KEYS = ["0.5", "0.8", "0.9", "0.95"] as const;

const close = (actual: number | null | undefined, expected: number, what: string, tolerance = 1e-12) => {
  assert(actual !== null && actual !== undefined, `${what}: missing`);
  assertAlmostEquals(actual, expected, tolerance * Math.max(1, Math.abs(expected)), what);
};

const closeInterval = (
  actual: { low: number; high: number } | null | undefined,
  expected: { low: number; high: number } | null,
  what: string,
) => {
  if (expected === null) return assertEquals(actual, null, what);
  close(actual?.low, expected.low, `${what} low`);
  close(actual?.high, expected.high, `${what} high`);
};

/**
 * One report curve against the plain curve of `values` (thresholds × scale): every point, AP, recall at each
 * precision, the operating points with their Wilson intervals, and the bootstrap intervals (seed 1, merged
 * `merge` cells at a time).
 */
function checkCurve(
  c: CurveEntry,
  values: number[],
  labels: boolean[],
  options: { higher?: boolean; scale?: number; merge?: number; points?: boolean } = {},
) {
  const what = `${c.predictor} ${c.feature}`, scale = options.scale ?? 1;
  const plain = plainCurve(values, labels, options.higher ?? true);
  assertEquals([c.rows, c.positives], [plain.rows, plain.positives], what);
  if (options.points ?? true) {
    assertEquals(c.thresholds, plain.points.map((p) => p.t * scale), `${what} thresholds`);
    c.precision.forEach((p, k) => close(p, plain.points[k].precision, `${what} precision ${k}`));
    c.recall.forEach((r, k) => close(r, plain.points[k].recall, `${what} recall ${k}`));
  }
  close(c.average_precision, plain.ap, `${what} AP`);
  assertEquals(LEVEL_KEYS.map((l) => c.recall_at_precision[l]), plain.rap, `${what} recall at precision`);
  LEVEL_KEYS.forEach((level, l) => {
    const p = plain.operating[l], op = c.operating_points[level];
    if (!p) return assertEquals(op, null, `${what} operating point ${level}`);
    assertEquals(
      [op!.threshold, op!.tp, op!.fp],
      [p.t * scale, p.tp, p.fp],
      `${what} operating point ${level}`,
    );
    closeInterval(
      op!.recall_interval,
      plainWilson(p.tp, plain.positives),
      `${what} recall interval ${level}`,
    );
    closeInterval(
      op!.precision_interval,
      plainWilson(p.tp, p.tp + p.fp),
      `${what} precision interval ${level}`,
    );
  });
  const boot = plainBootstrap(values, labels, new Rng(1), { higher: options.higher, merge: options.merge });
  assertEquals(
    [c.intervals.cells, c.intervals.resampled_cells],
    [boot.cells, boot.resampled],
    `${what} cells`,
  );
  closeInterval(c.intervals.average_precision, boot.ap, `${what} AP interval`);
  LEVEL_KEYS.forEach((level, l) =>
    closeInterval(c.intervals.recall_at_precision[level], boot.rap[l], `${what} recall interval ${level}`)
  );
}

const curveOf = (report: Report, predictor: string, feature: string) => {
  const c = report.curves.find((c) => c.predictor === predictor && c.feature === feature);
  assert(c, `no curve ${predictor} ${feature}`);
  return c;
};

Deno.test("ranked forecasts of the pico reference: every curve, operating point and interval by plain counts", async () => {
  const { report } = await computeReport({ results: [REFERENCE], meta: META });
  const reference = await picoReference();
  const labels = reference.get(TARGET)!.map((r) => r.score === 1);
  const suite = JSON.parse(await Deno.readTextFile(picoPath("fixtures/pico/suite.json")));
  const predictors = [...reference.keys()].filter((s) => s !== TARGET);
  // Score and first_mismatch for each of the 11 predictors, and the combined forecaster; no data, no text.
  assertEquals(report.curves.length, 2 * 11 + 1);
  for (const source of predictors) {
    const rows = reference.get(source)!;
    const [model, revision] = source.split("@"), step = Number(revision.slice(4));
    const compute = (suite.models[model].params / suite.models["pico-3"].params) * (step / 1092);
    for (const c of report.curves.filter((c) => c.predictor === source)) {
      close(c.compute_fraction, compute, `${source} compute`);
      assertEquals(c.target, TARGET);
    }
    checkCurve(curveOf(report, source, "score"), rows.map((r) => Math.round(r.score * 32)), labels, {
      scale: 1 / 32,
    });
    checkCurve(curveOf(report, source, "first_mismatch"), rows.map((r) => r.firstMismatch), labels);
  }
  // Every memorized set's precision and recall with its Wilson interval.
  for (const f of report.forecasts) {
    closeInterval(f.recall_interval, plainWilson(f.tp, f.tp + f.fn), `${f.predictor} recall interval`);
    closeInterval(f.precision_interval, plainWilson(f.tp, f.tp + f.fp), `${f.predictor} precision interval`);
  }
  assertEquals(report.forecasts.find((f) => f.predictor === "pico-3@step273")!.precision_interval, null);

  // The advice with thresholds: at each budget where the best recall at precision ≥ 0.9 rises, that recall,
  // among the family predictors' curves, the combined forecaster and the memorized sets.
  const candidates: { compute: number; recall: number }[] = [];
  for (const f of report.forecasts.filter((f) => f.family !== "other")) {
    const rows = reference.get(f.predictor)!;
    for (const values of [rows.map((r) => Math.round(r.score * 32)), rows.map((r) => r.firstMismatch)]) {
      candidates.push({ compute: f.compute_fraction!, recall: plainCurve(values, labels).rap[2] });
    }
    if (f.precision !== null && f.precision >= 0.9) {
      candidates.push({ compute: f.compute_fraction!, recall: f.recall! });
    }
  }
  const combined = report.curves.find((c) => c.family === "combined")!;
  candidates.push({ compute: combined.compute_fraction!, recall: combined.recall_at_precision["0.9"]! });
  const budgets = [...new Set(candidates.filter((c) => c.recall > 0).map((c) => c.compute))].sort((a, b) =>
    a - b
  );
  const expected: [number, number][] = [];
  for (const budget of budgets) {
    const best = Math.max(
      ...candidates.filter((c) => c.compute <= budget && c.recall > 0).map((c) => c.recall),
    );
    if (!expected.length || best > expected.at(-1)![1]) expected.push([budget, best]);
  }
  const thresholds = report.recommendation.thresholds;
  assertEquals(thresholds.map((b) => [b.budget, b.recall]), expected);
  for (const b of thresholds) {
    const f = report.forecasts.find((f) => f.predictor === b.predictor)!;
    const values = reference.get(b.predictor)!.map((r) =>
      b.feature === "score" ? r.score * 32 : r.firstMismatch
    );
    const op = plainCurve(values, labels).operating[2]!;
    close(b.threshold, b.feature === "score" ? op.t / 32 : op.t, `${b.predictor} threshold`);
    close(b.precision, op.precision, `${b.predictor} precision at the threshold`);
    closeInterval(b.recall_interval, plainWilson(op.tp, 12), `${b.predictor} recall interval`);
    const sets = report.forecasts.filter((g) =>
      g.family !== "other" && g.compute_fraction! <= b.budget && g.precision !== null && g.precision >= 0.9 &&
      g.recall! > 0
    );
    assertEquals(
      b.memorized_set?.recall ?? null,
      sets.length ? Math.max(...sets.map((g) => g.recall!)) : null,
    );
    assertEquals(f.family === "other", false);
  }
  // 12 memorized rows: each threshold's recall interval is wider than 30 points, so the text does not advise.
  const text = report.recommendation.text.join(" ");
  assertMatch(text, /With a threshold on a ranked forecast .* at precision ≥ 90%:/);
  assertMatch(text, /pico-1@step1092 first_mismatch ≥ 20 recalls 58\.3% .*too uncertain to advise on/);
});

Deno.test("the combined forecaster, scaling fits and training order of the pico reference, by plain computations", async () => {
  const { report } = await computeReport({ results: [REFERENCE], meta: META });
  const reference = await picoReference();
  const labels = reference.get(TARGET)!.map((r) => r.score === 1);
  const suite = JSON.parse(await Deno.readTextFile(picoPath("fixtures/pico/suite.json")));
  const params = (m: string) => suite.models[m].params;

  // Combined, by default: the cheapest smaller models and checkpoints (one revision a model, its latest of at most
  // half the compute) while they cost at most half together: pico-1's last revision (27.5%); pico-3@step546
  // (50%) would pass the half, pico-2 (55%) alone does.
  assertEquals(report.combined!.predictors, ["pico-1@step1092"]);
  close(report.combined!.compute_fraction, params("pico-1") / params("pico-3"), "combined compute");
  assertMatch(report.combined!.chosen_by, /the cheapest smaller models and earlier checkpoints/);

  // Chosen with --combine, refitted here on the same columns; checkpoints of one run nest: the compute is, per
  // model, its latest input's.
  const { report: chosen } = await computeReport({
    results: [REFERENCE],
    meta: META,
    combine: ["pico-3@step273", "pico-3@step546", "pico-1@step546", "pico-1@step1092"],
  });
  const c = chosen.combined!;
  assertEquals(c.predictors, ["pico-1@step546", "pico-1@step1092", "pico-3@step273", "pico-3@step546"]);
  assertEquals(c.inputs.map((i) => i.name), c.predictors.map((s) => `${s} score`));
  close(c.compute_fraction, 0.5 + params("pico-1") / params("pico-3"), "nested compute");
  assertEquals(c.chosen_by, "--combine");
  const k = (s: string) => Float64Array.from(reference.get(s)!, (r) => Math.round(r.score * 32));
  const inputs = c.predictors.map((s) => ({ name: `${s} score`, values: k(s), compute_fraction: null }));
  const index = Float64Array.from(labels.keys());
  const refit = crossValidatedForecast(inputs, bitsetFromFlags(labels.map(Number)), index, TARGET);
  assertEquals(c.inputs.map((i) => i.coefficient), refit.forecast.inputs.map((i) => i.coefficient));
  assertEquals([c.rows, c.positives, c.folds, c.seed], [2048, 12, 5, 1]);
  c.inputs.forEach((input, j) =>
    close(input.average_precision, plainCurve([...inputs[j].values], labels).ap, input.name)
  );
  // The combined curve is the held-out log-odds' ranking, counted here with its bootstrap; the summary's AP,
  // its interval and recall at each precision are that curve's.
  const curve = chosen.curves.find((x) => x.family === "combined")!;
  const heldOut = [...refit.logOdds!];
  checkCurve(curve, heldOut, labels, { points: false }); // more thresholds than the written curve keeps
  close(curve.compute_fraction, 0.5 + params("pico-1") / params("pico-3"), "nested compute of the curve");
  const plain = plainCurve(heldOut, labels);
  close(c.average_precision, plain.ap, "combined AP");
  assertEquals(LEVEL_KEYS.map((l) => c.recall_at_precision[l]), plain.rap, "combined recall at precision");
  closeInterval(
    c.average_precision_interval,
    plainBootstrap(heldOut, labels, new Rng(1)).ap,
    "combined AP interval",
  );
  await assertRejects(
    () => computeReport({ results: [REFERENCE], combine: [TARGET] }),
    Error,
    "--combine pico-3@step1092: is the target",
  );
  await assertRejects(
    () => computeReport({ results: [REFERENCE], combine: ["pico-9@step1"] }),
    Error,
    "not among the results",
  );
  // Few memorized rows: stratified folds, fewer of them (3 rows, 3 folds), said in the text and the table; one
  // memorized row: no forecast at all, and the note says why instead of giving a number.
  const three = (await computeReport({
    results: [REFERENCE],
    meta: META,
    target: "pico-1@step1092",
    combine: ["pico-1@step546"],
  })).report;
  assertEquals([three.combined!.positives, three.combined!.folds, three.combined!.folds_requested], [
    3,
    3,
    5,
  ]);
  assertMatch(
    three.findings.join(" "),
    /3-fold cross-validation over rows, stratified \(every fold holds its share of the memorized rows; 3 folds, not 5, as only 3 rows are memorized\)/,
  );
  assertMatch(
    reportMarkdown(three),
    /3-fold cross-validation over rows \(3 folds, not 5, as only 3 rows are memorized\), stratified by the label/,
  );
  const one = (await computeReport({
    results: [REFERENCE],
    meta: META,
    target: "pico-1@step546",
    combine: ["pico-1@step273"],
  })).report;
  assertEquals(one.combined, null);
  assertEquals(one.curves.filter((x) => x.family === "combined"), []);
  assertMatch(
    one.findings.join("\n"),
    /^No combined forecaster: only 1 row is memorized and 2047 not among the 2048 rows with every input; cross-validation needs at least 2 of each/m,
  );

  // Scaling: logit(y) = a + b·ln(compute) by Newton's method here, per family and metric.
  const counts = (source: string) => {
    const p = reference.get(source)!.map((r) => r.score === 1);
    let tp = 0, fp = 0, fn = 0;
    p.forEach((x, i) => x && labels[i] ? tp++ : x ? fp++ : labels[i] ? fn++ : 0);
    return { tp, fp, fn };
  };
  const families = {
    checkpoint: ["pico-3@step273", "pico-3@step546", "pico-3@step819"],
    "smaller model": ["pico-1@step1092", "pico-2@step1092"],
  };
  const compute = (s: string) => {
    const [model, revision] = s.split("@");
    return (params(model) / params("pico-3")) * (Number(revision.slice(4)) / 1092);
  };
  assertEquals(report.scaling.map((f) => `${f.family} ${f.metric}`), [
    "checkpoint recall",
    "checkpoint precision",
    "smaller model recall",
    "smaller model precision",
  ]);
  for (const fit of report.scaling) {
    const members = families[fit.family];
    assertEquals(fit.predictors, members.length);
    if (fit.metric === "precision") {
      // Every predictor that predicts anything is at 100% precision (pico-3@step273 predicts nothing).
      assertEquals([fit.law, fit.note], [null, "every predictor is at 100%: no law to fit"]);
      continue;
    }
    const used = members.filter((s) => counts(s).tp + counts(s).fn > 0);
    const plain = plainBinomialFit(
      used.map((s) => Math.log(compute(s))),
      used.map((s) => counts(s).tp),
      used.map((s) => counts(s).tp + counts(s).fn),
    );
    const law = fit.law!;
    close(law.a, plain.a, `${fit.family} a`, 1e-8);
    close(law.b, plain.b, `${fit.family} b`, 1e-8);
    close(law.se_a, plain.se_a, `${fit.family} se a`, 1e-7);
    close(law.se_b, plain.se_b, `${fit.family} se b`, 1e-7);
    close(law.dispersion, plain.dispersion, `${fit.family} dispersion`, 1e-7);
    for (const level of ["0.5", "0.9"] as const) {
      const at = plain.at(Number(level)), got = law.compute_for[level]!;
      close(got.compute_fraction, at.value, `${fit.family} ${level}`, 1e-7);
      close(got.low, at.low, `${fit.family} ${level} low`, 1e-6);
      close(got.high, at.high, `${fit.family} ${level} high`, 1e-6);
      const lo = Math.min(...used.map(compute)), hi = Math.max(...used.map(compute));
      assertEquals(got.extrapolated, at.value < lo || at.value > hi, `${fit.family} ${level} extrapolated`);
    }
  }
  assertEquals(
    report.scaling[2].note,
    "two predictors: the law passes through both, its errors are binomial only",
  );

  // Training order: 64 rows a step, steps 0..31 in 8 buckets of 4 steps; chi-square and trend by plain loops.
  assertEquals(report.training_order.map((o) => o.source), ["pico-1@step1092", "pico-2@step1092", TARGET]);
  for (const o of report.training_order) {
    const memorized = reference.get(o.source)!.map((r) => r.score === 1);
    const step = (i: number) => Math.floor(i / 64);
    const total = memorized.filter(Boolean).length, p = total / 2048;
    let chi2 = 0;
    o.buckets.forEach((b, j) => {
      const rows = [...labels.keys()].filter((i) => Math.floor(step(i) / 4) === j);
      const hits = rows.filter((i) => memorized[i]).length;
      assertEquals([b.first_step, b.last_step, b.rows, b.memorized], [4 * j, 4 * j + 3, rows.length, hits]);
      closeInterval(b.interval, plainWilson(hits, rows.length), `${o.source} bucket ${j}`);
      chi2 += (hits - rows.length * p) ** 2 / (rows.length * p * (1 - p));
    });
    assertEquals(o.buckets.length, 8);
    const mean = [...labels.keys()].reduce((s, i) => s + step(i), 0) / 2048;
    let numerator = 0, spread = 0;
    for (let i = 0; i < 2048; i++) {
      spread += (step(i) - mean) ** 2;
      if (memorized[i]) numerator += step(i) - mean;
    }
    const z = numerator / Math.sqrt(p * (1 - p) * spread);
    close(o.homogeneity!.statistic, chi2, `${o.source} chi-square`, 1e-10);
    assertEquals(o.homogeneity!.df, 7);
    close(o.homogeneity!.p_value, chiSquareSf(chi2, 7), `${o.source} chi-square p`, 1e-10);
    close(o.trend!.z, z, `${o.source} trend`, 1e-10);
    close(o.trend!.p_value, 2 * normalSf(Math.abs(z)), `${o.source} trend p`, 1e-10);
  }
  // Holm over the 3 models, each test on its own: the i-th smallest p times (3 − i + 1), kept non-decreasing.
  for (const test of ["homogeneity", "trend"] as const) {
    const p = report.training_order.map((o) => o[test]!.p_value);
    const sorted = [...p].sort((a, b) => a - b);
    const adjusted = [Math.min(1, 3 * sorted[0])];
    adjusted.push(Math.max(adjusted[0], Math.min(1, 2 * sorted[1])));
    adjusted.push(Math.max(adjusted[1], Math.min(1, sorted[2])));
    report.training_order.forEach((o, k) =>
      close(o[test]!.p_holm, adjusted[sorted.indexOf(p[k])], `${o.source} ${test} Holm`, 1e-12)
    );
  }
  const findings = report.findings.join(" ");
  // pico-3's trend, p = 0.045 alone, is no evidence once 3 models are tested (Holm: 0.134).
  close(report.training_order[2].trend!.p_value, 0.045, "pico-3 trend p", 0.01);
  assertMatch(
    findings,
    /Memorization over training order \(rows in 8 buckets by the step they were first seen at; p-values Holm-adjusted for the 3 models tested\): .*pico-3@step1092 is flat \(no evidence that it varies: χ² p = 0\.118, trend p = 0\.134\)\./,
  );
  assertMatch(
    findings,
    /The combined forecaster \(logistic regression on pico-1@step1092 score; 5-fold cross-validation/,
  );
});

// --- hand-made results: answers worked out by hand -------------------------------------------------------------

function provenance(model: string, params: number, rows: number, logprob: boolean): Provenance {
  return {
    model,
    revision: "step10",
    model_path: `/models/${model}/step10`,
    params,
    config_hash: "0",
    data: "/data/none",
    prompt: 32,
    continuation: 32,
    offset: 0,
    mode: "score",
    paper_compatible: false,
    logprob,
    engram_version: "test",
    adapter: "test",
    start: 0,
    count: rows,
    rows,
    created: "2025-01-01T00:00:00Z",
  };
}

/** Results of `model` over rows 0..n-1: matches, first mismatch and (optionally) log-probability per row. */
async function writeHandMade(
  path: string,
  model: string,
  params: number,
  matches: number[],
  first: number[],
  logprob: number[] | null,
) {
  await writeResults(path, {
    index: Float64Array.from(matches.keys()),
    matches: Int16Array.from(matches),
    firstMismatch: Int16Array.from(first),
    logprob: logprob && Float32Array.from(logprob),
    continuation: 32,
  }, provenance(model, params, matches.length, logprob !== null));
}

Deno.test("hand-made ranked forecasts with ties in scores, first mismatches and log-probabilities", async () => {
  await withTempDir(async (dir) => {
    // m-2 (the target) memorized rows 0, 2, 3, 5. m-1 ranks the rows three ways, with ties:
    //   score k: 32 32 30 30 30 20 20 10 0 0 → thresholds 1, 30/32, 20/32, 10/32, 0 predict 2, 5, 7, 8, 10 rows
    //     with TP 1, 3, 4, 4, 4: precision .5, .6, 4/7, .5, .4, recall .25, .75, 1, 1, 1;
    //     AP = .25·.5 + .5·.6 + .25·4/7.
    //   first mismatch: 32 32 30 29 30 12 20 10 0 0 → TP/FP 1/1, 2/2, 3/2, 3/3, 4/3, 4/4, 4/6;
    //     AP = .25·.5 + .25·.5 + .25·.6 + .25·4/7.
    //   log-probability: -.5 -1 -1 -1 -2 -2 -3 -3 -3 -4 → TP/FP 1/0, 3/1, 4/2, 4/5, 4/6;
    //     AP = .25·1 + .5·.75 + .25·4/6; recall at precision ≥ .8, .9, .95 is .25 (threshold -.5).
    const memorized = new Set([0, 2, 3, 5]);
    const target = Array.from({ length: 10 }, (_, i) => memorized.has(i) ? 32 : 5);
    await writeHandMade(
      join(dir, "m-2.parquet"),
      "m-2",
      400,
      target,
      target.map((k) => k === 32 ? 32 : 1),
      null,
    );
    const k = [32, 32, 30, 30, 30, 20, 20, 10, 0, 0], first = [32, 32, 30, 29, 30, 12, 20, 10, 0, 0];
    const logprob = [-0.5, -1, -1, -1, -2, -2, -3, -3, -3, -4];
    await writeHandMade(join(dir, "m-1.parquet"), "m-1", 100, k, first, logprob);
    const { report } = await computeReport({ results: [dir] });
    assertEquals(report.target, "m-2@step10");
    const score = curveOf(report, "m-1@step10", "score");
    assertEquals(score.thresholds, [1, 30 / 32, 20 / 32, 10 / 32, 0]);
    assertEquals(score.precision, [0.5, 0.6, 4 / 7, 0.5, 0.4]);
    assertEquals(score.recall, [0.25, 0.75, 1, 1, 1]);
    close(score.average_precision, 0.25 * 0.5 + 0.5 * 0.6 + 0.25 * 4 / 7, "score AP");
    assertEquals(score.recall_at_precision, { "0.5": 1, "0.8": 0, "0.9": 0, "0.95": 0 });
    assertEquals(
      { ...score.operating_points["0.5"]!, precision_interval: null, recall_interval: null },
      {
        threshold: 0.625,
        precision: 4 / 7,
        recall: 1,
        tp: 4,
        fp: 3,
        precision_interval: null,
        recall_interval: null,
      },
    );
    assertEquals([score.operating_points["0.8"], score.compute_fraction], [null, 0.25]);
    const fm = curveOf(report, "m-1@step10", "first_mismatch");
    close(fm.average_precision, 0.25 * 0.5 + 0.25 * 0.5 + 0.25 * 0.6 + 0.25 * 4 / 7, "first mismatch AP");
    assertEquals(fm.recall_at_precision, { "0.5": 1, "0.8": 0, "0.9": 0, "0.95": 0 });
    const lp = curveOf(report, "m-1@step10", "logprob");
    assertEquals(lp.thresholds, [-0.5, -1, -2, -3, -4]);
    close(lp.average_precision, 0.25 + 0.5 * 0.75 + 0.25 * 4 / 6, "logprob AP");
    assertEquals(lp.recall_at_precision, { "0.5": 1, "0.8": 0.25, "0.9": 0.25, "0.95": 0.25 });
    assertEquals(lp.operating_points["0.9"]!.threshold, -0.5);
    // And the same by the plain loops, intervals included.
    const labels = k.map((_, i) => memorized.has(i));
    checkCurve(score, k, labels, { scale: 1 / 32 });
    checkCurve(fm, first, labels);
    checkCurve(lp, logprob, labels);
    // Scores without first mismatches (a reference CSV): the score's curve is the same, first_mismatch has none.
    const csv = join(dir, "scores.csv");
    await Deno.writeTextFile(
      csv,
      "model,revision,index,score\n" +
        k.map((x, i) => `m-1,step10,${i},${x / 32}\nm-2,step10,${i},${target[i] / 32}\n`).join(""),
    );
    const { report: bare } = await computeReport({ results: [csv] });
    assertEquals(bare.curves.filter((c) => c.predictor === "m-1@step10").map((c) => c.feature), ["score"]);
    assertEquals(curveOf(bare, "m-1@step10", "score").precision, score.precision);
    assertMatch(
      bare.notes.join(" | "),
      /no curve for m-1@step10 first_mismatch: the inputs leave it unknown/,
    );
    // 4 memorized rows: the report describes and says why it does not advise.
    assertMatch(
      report.recommendation.text.join(" "),
      /4 memorized rows are too few to tell predictors apart/,
    );
    assertMatch(
      report.recommendation.text.join(" "),
      /m-1@step10 logprob ≥ -0\.5 recalls 25\.0% \(95%: 4\.6%–69\.9%\) .* too uncertain to advise on: the target memorized only 4/,
    );
  });
});

Deno.test("hand-made advice with narrow intervals: use a threshold; long rankings bootstrap on merged cells", async () => {
  await withTempDir(async (dir) => {
    // 2000 rows; the target memorized rows 0..399. m-1 memorized 0..299 and scores 31/32 on rows 300..419:
    // its memorized set has precision 1, recall .75 (Wilson ~70–79%, narrow enough to advise on), and
    // "score ≥ 31/32" recalls all 400 at precision 400/420. Its log-probability ranks row i at -i/1000, except
    // rows 400..499 (not memorized), which tie with memorized rows 2, 6, 10, ...: 400 cells, merged to 50.
    const n = 2000, memorized = (i: number) => i < 400;
    const k = Array.from({ length: n }, (_, i) => i < 300 ? 32 : i < 420 ? 31 : i % 20);
    const first = k.map((x) => x === 32 ? 32 : Math.min(x, 3));
    const logprob = Array.from(
      { length: n },
      (_, i) => -(i >= 400 && i < 500 ? (i - 400) * 4 + 2 : i) / 1000,
    );
    const target = Array.from({ length: n }, (_, i) => memorized(i) ? 32 : 7);
    await writeHandMade(
      join(dir, "t.parquet"),
      "m-2",
      400,
      target,
      target.map((x) => x === 32 ? 32 : 0),
      null,
    );
    await writeHandMade(join(dir, "p.parquet"), "m-1", 100, k, first, logprob);
    const { report } = await computeReport({ results: [dir], maxBootstrapCells: 50 });
    const text = report.recommendation.text.join(" ");
    const w = plainWilson(300, 400)!;
    assertMatch(
      text,
      new RegExp(
        `use m-1@step10 \\(a smaller model\\): it recalls 75\\.0% \\(95%: ${(100 * w.low).toFixed(1)}%–` +
          `${(100 * w.high).toFixed(1)}%\\) of the memorized rows at 100\\.0% precision\\.`,
      ),
    );
    assertMatch(
      text,
      /use m-1@step10 score ≥ 0\.9688: it recalls 100\.0% \(95%: 99\.0%–100\.0%\) of the memorized rows at 95\.2% precision; the best memorized set within the budget, m-1@step10's, recalls 75\.0%\./,
    );
    assertEquals(report.recommendation.thresholds.map((b) => [b.budget, b.feature, b.threshold, b.recall]), [
      [0.25, "score", 31 / 32, 1],
    ]);
    close(report.recommendation.thresholds[0].precision, 400 / 420, "precision at the threshold");
    const labels = k.map((_, i) => memorized(i));
    const lp = curveOf(report, "m-1@step10", "logprob");
    // 1,900 distinct values: the written curve is thinned to 1,000 points; AP and the rest use every threshold.
    checkCurve(lp, logprob.map(Math.fround), labels, { merge: 8, points: false });
    assertEquals(lp.thresholds.length <= 1001 && lp.thresholds[0] === 0, true);
    assertEquals([lp.intervals.cells, lp.intervals.resampled_cells], [400, 50]);
    checkCurve(curveOf(report, "m-1@step10", "score"), k, labels, { scale: 1 / 32 });
    await withTempDir(async (out) => {
      await writeReport(out, { results: [dir], maxBootstrapCells: 50 });
      assertMatch(
        await Deno.readTextFile(join(out, "report.md")),
        /thresholds are resampled with neighbouring thresholds merged \(2 here\)/, // log-probability, combined
      );
    });
  });
});

Deno.test("text features of the pico rows as forecasts, cached beside the report; the combined forecaster uses them", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "report"), options = { results: [REFERENCE], meta: META, data: DATA };
    const { report } = await writeReport(out, options);
    const reference = await picoReference();
    const labels = reference.get(TARGET)!.map((r) => r.score === 1);
    const plain = plainFeatures(
      await windowsOf(DATA, [...labels.keys()], { prompt: 32, continuation: 32, offset: 0 }),
      32,
    );
    const columns = {
      window_copies: plain.map((p) => p.windowCopies),
      prompt_copies: plain.map((p) => p.promptCopies),
      compressed_bytes: plain.map((p) => p.compressed),
      distinct_tokens: plain.map((p) => p.distinct),
      mean_log_frequency: plain.map((p) => p.meanLogFrequency),
    };
    const text = report.curves.filter((c) => c.family === "text");
    assertEquals(text.map((c) => c.feature), TEXT_FEATURES.map((f) => f.feature));
    for (const { feature, higherIsMemorized } of TEXT_FEATURES) {
      const c = text.find((c) => c.feature === feature)!;
      assertEquals([c.predictor, c.compute_fraction], ["text", 0]);
      // mean_log_frequency has a value per row: more thresholds than the written curve keeps (AP uses all).
      const continuous = feature === "mean_log_frequency";
      if (continuous) {
        // Sums of logs in another order: equal to ~1e-15, so compare the ranking's numbers, not the thresholds.
        const p = plainCurve(columns[feature], labels, higherIsMemorized);
        close(c.average_precision, p.ap, feature, 1e-9);
        assertEquals(LEVEL_KEYS.map((l) => c.recall_at_precision[l]), p.rap);
      } else checkCurve(c, columns[feature], labels, { higher: higherIsMemorized });
    }
    assertEquals(report.text_features!.cached, false);
    const cache = join(dir, "engram-cache");
    assert(report.text_features!.cache!.startsWith(cache), report.text_features!.cache!);
    // The copies of pico's duplicated windows recall some memorized rows at 100% precision, at no compute.
    assert(curveOf(report, "text", "window_copies").recall_at_precision["0.9"]! > 0);
    const c = report.combined!;
    assertEquals(c.inputs.map((i) => i.name), [
      "pico-1@step1092 score",
      ...TEXT_FEATURES.map((f) => `text: ${f.feature}`),
    ]);
    assertEquals(c.inputs.map((i) => i.transform), [null, "log1p", "log1p", null, null, null]);
    close(c.compute_fraction, 362240 / 1317632, "the text adds no compute");

    // A second report over the same data and rows reads the cache; --no-text-features skips them with a note.
    const again = (await writeReport(out, options)).report;
    assertEquals([again.text_features!.cached, again.text_features!.cache], [
      true,
      report.text_features!.cache,
    ]);
    assertEquals(again.curves.filter((c) => c.family === "text"), text);
    const md = await Deno.readTextFile(join(out, "report.md"));
    assertMatch(md, /### Ranked forecasts of pico-3@step1092's memorized rows/);
    assertMatch(md, /\| text \| window_copies \| text \| 0\.0% \|/);
    assertMatch(md, /### Combined forecaster/);
    assertMatch(md, /\| combined \(held out\) \| 27\.5% \|/);
    assertMatch(md, /### Scaling with compute/);
    assertMatch(md, /### Memorization over training order/);
    assertMatch(md, /### Equi-compute frontier with thresholds, at precision ≥ 90%/);
    const none = (await computeReport({ ...options, textFeatures: false })).report;
    assertEquals([none.text_features, none.curves.some((c) => c.family === "text")], [null, false]);
    assert(
      none.notes.includes("properties of the text not computed (--no-text-features)"),
      none.notes.join(" | "),
    );
    // The same through the command line's flags.
    const log = console.log;
    console.log = () => {};
    try {
      const flags = ["--results", REFERENCE, "--meta", META, "--data", DATA, "--out", join(dir, "cli")];
      await reportCommand([
        ...flags,
        "--cache",
        join(dir, "c"),
        "--combine",
        "pico-2@step1092,pico-3@step546",
      ]);
      const json = JSON.parse(await Deno.readTextFile(join(dir, "cli", "report.json")));
      assertEquals(json.combined.predictors, ["pico-2@step1092", "pico-3@step546"]);
      assert(json.text_features.cache.startsWith(join(dir, "c", "text-features-")), json.text_features.cache);
      await reportCommand([...flags, "--no-text-features"]);
      const bare = JSON.parse(await Deno.readTextFile(join(dir, "cli", "report.json")));
      assertEquals([bare.text_features, bare.combined.inputs.length], [null, 1]);
    } finally {
      console.log = log;
    }
    const missing = (await computeReport({ results: [REFERENCE] })).report;
    assertMatch(
      missing.notes.join(" | "),
      /properties of the text not computed: the results do not name their training data; pass --data/,
    );
  });
});
