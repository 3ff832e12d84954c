// report.html (one self-contained page: inline SVG figures, no script, no network) and report.md (the tables).
import * as aq from "arquero";
import type { Figure } from "./figures.ts";
import { int, num, pct, pctRange, pctWith, plural } from "./format.ts";
import { memorizedMeaning } from "./forecast.ts";
import { fewerFolds } from "./logistic.ts";
import { ADVICE_LEVEL, type CurveEntry, pickLabel } from "./ranked.ts";
import type { Report } from "./report_types.ts";
import { orderVerdict } from "./training_order.ts";

/** A table in a form both HTML and Markdown can render. */
export interface TextTable {
  /** Its anchor in the report's HTML. */
  id: string;
  /** Its heading. */
  title: string;
  /** A sentence under the heading, if any. */
  note?: string;
  /** Column headings. */
  columns: string[];
  /** Columns holding numbers, right-aligned. */
  numeric: boolean[];
  /** Cells, row by row, as text. */
  rows: string[][];
}

/** Memorization per model and revision (report.sources). */
export function sourcesTable(report: Report): TextTable {
  const extra = report.sources.some((s) => s.rows_missing > 0 || s.rows_excluded > 0);
  return {
    id: "sources",
    title: "Memorization per model and revision",
    note: `Over the ${int(report.rows.analysed)} analysed rows; memorized = ${
      memorizedMeaning(report.sources).long
    }.`,
    columns: [
      "model@revision",
      "parameters",
      "step",
      "tokens seen",
      "memorized",
      "memorized fraction",
      "mean score",
      "rows loaded",
      ...(extra ? ["rows missing", "rows left out"] : []),
    ],
    numeric: [false, true, true, true, true, true, true, true, true, true],
    rows: report.sources.map((s) => [
      s.source,
      int(s.params),
      int(s.step),
      int(s.tokens_seen),
      int(s.memorized),
      pct(s.memorized_fraction, 2),
      num(s.mean_score, 4),
      int(s.rows_loaded),
      ...(extra ? [int(s.rows_missing), int(s.rows_excluded)] : []),
    ]),
  };
}

const FAMILY_ORDER = { "smaller model": 0, checkpoint: 1, other: 2 } as Record<string, number>;

/** Every other model@revision as a forecast of the target's memorized rows. */
export function forecastsTable(report: Report): TextTable {
  const rows = [...report.forecasts].sort((a, b) =>
    FAMILY_ORDER[a.family] - FAMILY_ORDER[b.family] || (a.compute_fraction ?? 0) - (b.compute_fraction ?? 0)
  );
  return {
    id: "forecasts",
    title: `Forecasts of ${report.target}'s memorized rows`,
    note:
      "Each model@revision predicts “memorized by the target” by its own memorized set. Smaller model: a " +
      "smaller fully-trained model of the same suite; checkpoint: an earlier checkpoint of the target. " +
      "95%: Wilson intervals.",
    columns: [
      "predictor",
      "family",
      "compute",
      "precision",
      "recall",
      "precision 95%",
      "recall 95%",
      "F1",
      "TP",
      "FP",
      "FN",
      "TN",
      "recall / compute",
    ],
    numeric: [false, false, true, true, true, true, true, true, true, true, true, true, true],
    rows: rows.map((f) => [
      f.predictor,
      f.family,
      pct(f.compute_fraction),
      pct(f.precision),
      pct(f.recall),
      pctRange(f.precision_interval),
      pctRange(f.recall_interval),
      pct(f.f1),
      int(f.tp),
      int(f.fp),
      int(f.fn),
      int(f.tn),
      num(f.recall_per_compute, 2),
    ]),
  };
}

/** The equi-compute frontier: the best predictor at each compute budget. */
export function budgetTable(report: Report): TextTable {
  return {
    id: "budgets",
    title: "Equi-compute frontier",
    note: "For each budget (a share of the target's training compute), the predictor with the most recall.",
    columns: [
      "budget",
      "best predictor",
      "family",
      "recall",
      "precision",
      "best smaller model",
      "best checkpoint",
    ],
    numeric: [true, false, false, true, true, false, false],
    rows: report.recommendation.budgets.map((b) => [
      pct(b.budget),
      b.predictor,
      b.family,
      pct(b.recall),
      pct(b.precision),
      b.best_smaller_model ? `${b.best_smaller_model} (${pct(b.best_smaller_model_recall)})` : "–",
      b.best_checkpoint ? `${b.best_checkpoint} (${pct(b.best_checkpoint_recall)})` : "–",
    ]),
  };
}

const FEATURE_ORDER = ["score", "first_mismatch", "logprob"];
const CURVE_ORDER = { combined: 0, text: 1, "smaller model": 2, checkpoint: 3, other: 4 } as Record<
  string,
  number
>;

/** Every ranked forecast: AP and the best recall at each precision, with bootstrap intervals. */
export function curvesTable(report: Report): TextTable | null {
  if (report.curves.length === 0) return null;
  const rows = [...report.curves].sort((a, b) =>
    CURVE_ORDER[a.family] - CURVE_ORDER[b.family] || (a.compute_fraction ?? 2) - (b.compute_fraction ?? 2) ||
    a.predictor.localeCompare(b.predictor, "en", { numeric: true }) ||
    FEATURE_ORDER.indexOf(a.feature) - FEATURE_ORDER.indexOf(b.feature)
  );
  const merged = report.curves.filter((c) => c.intervals.resampled_cells < c.intervals.cells);
  const first = report.curves[0].intervals;
  const op = (c: CurveEntry) => {
    const p = c.operating_points[ADVICE_LEVEL];
    return p ? `${c.predicted_when === "<=" ? "≤" : "≥"} ${Number(p.threshold.toPrecision(4))}` : "–";
  };
  const t = report.text_features;
  return {
    id: "curves",
    title: `Ranked forecasts of ${report.target}'s memorized rows`,
    note:
      `Each forecast ranks the rows by a value (rows with value ≥ t, or ≤ t where smaller means likelier, ` +
      `are predicted memorized, for every t); AP = average precision, Σ (Rₙ − Rₙ₋₁)·Pₙ as scikit-learn ` +
      `defines it; recall @ P ≥ p: the most a threshold recalls at precision p or better; threshold @ 90%: ` +
      `that threshold. 95% of AP: bootstrap over rows (${first.resamples} Poisson resamples, seed ${first.seed}); ` +
      `of recall at 90%: Wilson, at that threshold (report.json also has bootstrap intervals of recall at ` +
      `each precision, which include the choice of threshold)` +
      (merged.length
        ? `; rankings of more than ${
          int(Math.min(...merged.map((c) => c.intervals.resampled_cells)))
        } thresholds are resampled with neighbouring thresholds merged (${merged.length} here)`
        : "") +
      `. Text: properties of the ${
        t ? `${t.window.prompt + t.window.continuation}-token` : "scored"
      } window (prompt and continuation), no model (compute 0)` +
      (t ? `, from ${t.data}${t.cache ? ` (${t.cached ? "read from" : "cached in"} ${t.cache})` : ""}` : "") +
      `. Combined: the cross-validated forecaster below.`,
    columns: [
      "forecast",
      "feature",
      "family",
      "compute",
      "AP (95%)",
      "recall @ P≥50%",
      "@ P≥80%",
      "@ P≥90% (95%)",
      "@ P≥95%",
      "threshold @ 90%",
    ],
    numeric: [false, false, false, true, true, true, true, true, true, false],
    rows: rows.map((c) => [
      c.predictor,
      c.feature,
      c.family,
      pct(c.compute_fraction),
      pctWith(c.average_precision, c.intervals.average_precision),
      pct(c.recall_at_precision["0.5"]),
      pct(c.recall_at_precision["0.8"]),
      pctWith(c.recall_at_precision["0.9"], c.operating_points["0.9"]?.recall_interval),
      pct(c.recall_at_precision["0.95"]),
      op(c),
    ]),
  };
}

/** The frontier with thresholds at the advice's precision; null when there is none. */
export function thresholdTable(report: Report): TextTable | null {
  const list = report.recommendation.thresholds;
  if (list.length === 0) return null;
  return {
    id: "thresholds",
    title: `Equi-compute frontier with thresholds, at precision ≥ ${pct(Number(ADVICE_LEVEL), 0)}`,
    note: "For each budget, the forecast and threshold that recall most of the target's memorized rows at " +
      "that precision or better (a memorized set is one such forecast), next to the best memorized set.",
    columns: ["budget", "forecast", "recall (95%)", "precision", "best memorized set (recall)"],
    numeric: [true, false, true, true, false],
    rows: list.map((b) => [
      b.budget === 0 ? "0% (no model)" : pct(b.budget),
      pickLabel(b),
      pctWith(b.recall, b.recall_interval),
      pct(b.precision),
      b.memorized_set ? `${b.memorized_set.predictor} (${pct(b.memorized_set.recall)})` : "–",
    ]),
  };
}

/** The combined forecaster's inputs: compute, coefficient, AP and recall; null when none was fitted. */
export function combinedTable(report: Report): TextTable | null {
  const c = report.combined;
  if (!c) return null;
  return {
    id: "combined",
    title: "Combined forecaster",
    note: `Logistic regression (L2 ${c.l2} on standardized inputs) of “memorized by ${c.target}” on the ` +
      `inputs below, chosen as ${c.chosen_by}. ${c.folds}-fold cross-validation over rows${
        fewerFolds(c) ? ` (${fewerFolds(c)})` : ""
      }, ${c.stratification} (seed ${c.seed}). Every row's forecast comes from a model fitted without its fold ` +
      `(on ${c.fit_rows.map(int).join(", ")} rows), and AP and recall are over those held-out forecasts ` +
      `(${int(c.rows)} rows, ${
        int(c.positives)
      } memorized). Compute: ${c.compute_note}. Coefficient: on the ` +
      `standardized input in a fit to all rows; alone: the input's own ranking on the same rows.`,
    columns: ["input", "compute", "coefficient", "AP", "recall @ P≥90%"],
    numeric: [false, true, true, true, true],
    rows: [
      ...c.inputs.map((i) => [
        i.name + (i.transform ? ` (${i.transform})` : ""),
        pct(i.compute_fraction),
        num(i.coefficient, 3),
        pct(i.average_precision),
        pct(i.recall_at_precision["0.9"]),
      ]),
      [
        "combined (held out)",
        pct(c.compute_fraction),
        "",
        pctWith(c.average_precision, c.average_precision_interval),
        pct(c.recall_at_precision["0.9"]),
      ],
    ],
  };
}

/** The scaling laws fitted against compute; null when none was. */
export function scalingTable(report: Report): TextTable | null {
  if (report.scaling.length === 0) return null;
  const at = (c: { compute_fraction: number; low: number; high: number; extrapolated: boolean } | null) =>
    c ? `${pct(c.compute_fraction)} (${pctRange(c)})${c.extrapolated ? " extrapolated" : ""}` : "–";
  return {
    id: "scaling",
    title: "Scaling with compute",
    note:
      "Each family's precision and recall against compute fraction, fitted as logit(y) = a + b·ln(compute) " +
      "to the counts (binomial likelihood; standard errors scaled by the dispersion when it exceeds 1). " +
      "Compute for 50% and 90%, with 95% intervals (delta method).",
    columns: ["family", "metric", "predictors", "a", "b (± s.e.)", "dispersion", "50% at", "90% at", "note"],
    numeric: [false, false, true, true, true, true, true, true, false],
    rows: report.scaling.map((f) => [
      f.family,
      f.metric,
      String(f.predictors),
      num(f.law?.a, 3),
      f.law ? `${num(f.law.b, 3)} ± ${num(f.law.se_b, 3)}` : "–",
      num(f.law?.dispersion, 2),
      at(f.law?.compute_for["0.5"] ?? null),
      at(f.law?.compute_for["0.9"] ?? null),
      f.note ?? "",
    ]),
  };
}

/** Memorization over training order, per step bucket; null when the report has none. */
export function trainingOrderTable(report: Report): TextTable | null {
  if (report.training_order.length === 0) return null;
  const p = (x: number | undefined) => x === undefined ? "–" : x < 0.001 ? "< 0.001" : x.toFixed(3);
  const tested = Math.max(...report.training_order.map((o) => o.tested));
  return {
    id: "training-order",
    title: "Memorization over training order",
    note:
      "Each model at its last revision: memorized fraction of the rows first trained on in each bucket of " +
      "steps (row i at step ⌊i / rows per step⌋), earliest first; χ²: homogeneity across buckets; trend: " +
      "Cochran–Armitage on the step, row by row (z > 0: later rows memorized more). Holm: each test's " +
      `p-value adjusted over the ${plural(tested, "model")} tested (Holm's step-down correction for ` +
      "multiple tests); the verdict uses it.",
    columns: [
      "model@revision",
      "steps",
      "memorized per bucket",
      "χ² (df)",
      "p",
      "p (Holm)",
      "trend z",
      "p",
      "p (Holm)",
      "verdict",
    ],
    numeric: [false, false, false, true, true, true, true, true, true, false],
    rows: report.training_order.map((o) => [
      o.source,
      o.buckets.length ? `${int(o.buckets[0].first_step)}–${int(o.buckets.at(-1)!.last_step)}` : "–",
      o.buckets.map((b) => pct(b.fraction)).join(" · "),
      o.homogeneity ? `${num(o.homogeneity.statistic, 2)} (${o.homogeneity.df})` : "–",
      p(o.homogeneity?.p_value),
      p(o.homogeneity?.p_holm),
      num(o.trend?.z, 2),
      p(o.trend?.p_value),
      p(o.trend?.p_holm),
      orderVerdict(o),
    ]),
  };
}

/**
 * A long table of (row, column, value) cells as one row per distinct `row` (in first-seen order) with the values
 * of `columns` in that order (null where a cell is absent): Arquero's pivot, the table verb this reads as.
 */
function pivot(
  cells: { row: string | number; column: string; value: number | null }[],
  columns: string[],
): { row: string | number; values: (number | null)[] }[] {
  // The pivoted columns are named by the cells' column values; prefixed so that none can shadow "row".
  const wide = aq.from(cells.map((c) => ({ row: c.row, column: `c:${c.column}`, value: c.value })))
    .groupby("row")
    .pivot("column", { value: (d: { value: number | null }) => aq.op.any(d.value) }, { sort: false });
  return (wide.objects() as Record<string, unknown>[]).map((o) => ({
    row: o.row as string | number,
    values: columns.map((c) => (o[`c:${c}`] ?? null) as number | null),
  }));
}

/** One matrix table per group (revision or model) of a correlation list. */
export function correlationTables(report: Report, kind: "memorized" | "scores"): TextTable[] {
  const list = report.correlations[kind];
  const all = [...new Set(list.map((c) => c.group))];
  // A table of only "–" says nothing: such groups are named in the first table's note instead.
  const groups = all.filter((g) => list.some((c) => c.group === g && c.r !== null));
  const gone = all.filter((g) => !groups.includes(g));
  const goneNote = gone.length ? ` Left out: ${gone.join(", ")}, where r is undefined for every pair.` : "";
  return groups.map((group, k) => {
    const cells = list.filter((c) => c.group === group);
    const keys = [...new Set(cells.map((c) => c.a))];
    const matrix = pivot(cells.map((c) => ({ row: c.a, column: c.b, value: c.r })), keys);
    return {
      id: `corr-${kind}-${group}`,
      title: kind === "memorized"
        ? `Pearson r of memorized between models at ${group}`
        : `Pearson r of scores between checkpoints of ${group}`,
      note: cells.some((c) => c.r === null) || (k === 0 && gone.length)
        ? (kind === "memorized"
          ? "– : r is undefined where a model memorized none of the analysed rows (or all of them): its " +
            "memorized indicator is constant."
          : "– : r is undefined where a checkpoint gives every analysed row the same score: its scores are " +
            "constant.") + (k === 0 ? goneNote : "")
        : undefined,
      columns: ["", ...keys],
      numeric: [false, ...keys.map(() => true)],
      rows: matrix.map(({ row, values }) => [String(row), ...values.map((r) => num(r, 3))]),
    };
  });
}

/** Rows per score, a column per source; null when no source has scores. */
export function histogramTable(report: Report): TextTable | null {
  const sources = [...new Set(report.histograms.map((h) => h.source))];
  if (sources.length === 0) return null;
  const counts = pivot(
    report.histograms.map((h) => ({ row: h.k, column: h.source, value: h.count })),
    sources,
  );
  return {
    id: "histogram",
    title: "Rows per score k/32",
    columns: ["k", ...sources],
    numeric: [true, ...sources.map(() => true)],
    rows: counts.sort((a, b) => Number(a.row) - Number(b.row))
      .map(({ row, values }) => [String(row), ...values.map((c) => int(c))]),
  };
}

/** How many rows were loaded, scored by all and analysed. */
export function rowsTable(report: Report): TextTable {
  const r = report.rows;
  const rows = [
    ["rows analysed", int(r.analysed)],
    ["rows scored by any input", int(r.union)],
    ["rows scored by every input", int(r.common)],
    ["rows the earliest checkpoint has trained on", r.seen_limit === null ? "unknown" : int(r.seen_limit)],
    ["--universe", r.universe === null ? "–" : int(r.universe)],
  ];
  for (const s of report.sources) {
    if (s.rows_missing > 0) rows.push([`${s.source}: rows missing`, int(s.rows_missing)]);
    if (s.rows_excluded > 0) rows.push([`${s.source}: rows loaded but left out`, int(s.rows_excluded)]);
  }
  return { id: "rows", title: "Rows", columns: ["", "rows"], numeric: [false, true], rows };
}

/** Every input file: kind, rows and the model@revisions it holds. */
export function inputsTable(report: Report): TextTable {
  return {
    id: "inputs",
    title: "Inputs",
    columns: ["file", "kind", "rows", "model@revision"],
    numeric: [false, false, true, false],
    rows: report.inputs.map((i) => [i.file, i.kind, int(i.rows), i.sources.join(", ")]),
  };
}

/** Sample memorized rows as text; null when there are none. */
export function samplesTable(report: Report): TextTable | null {
  if (!report.samples) return null;
  return {
    id: "samples",
    title: `Memorized rows of ${report.target}`,
    note: report.samples_note ?? undefined,
    columns: ["row", "prompt", "memorized continuation"],
    numeric: [true, false, false],
    rows: report.samples.map((s) => [String(s.index), s.prompt, s.continuation]),
  };
}

/** Every table of the report, in the order it shows them (those a report has none of left out). */
export function reportTables(report: Report): TextTable[] {
  return [
    sourcesTable(report),
    forecastsTable(report),
    budgetTable(report),
    thresholdTable(report),
    curvesTable(report),
    combinedTable(report),
    scalingTable(report),
    trainingOrderTable(report),
    ...correlationTables(report, "memorized"),
    ...correlationTables(report, "scores"),
    histogramTable(report),
    samplesTable(report),
    rowsTable(report),
    inputsTable(report),
  ].filter((t): t is TextTable => t !== null);
}

/** `s` with &, <, >, " and ' escaped for HTML text and attribute values. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function htmlTable(t: TextTable): string {
  const cls = (i: number) => t.numeric[i] ? ` class="num"` : "";
  const head = t.columns.map((c, i) => `<th${cls(i)}>${escapeHtml(c)}</th>`).join("");
  const body = t.rows.map((r) =>
    `<tr>${
      r.map((c, i) =>
        `<td${cls(i)}>${t.id === "samples" && i > 0 ? `<code>${escapeHtml(c)}</code>` : escapeHtml(c)}</td>`
      ).join("")
    }</tr>`
  ).join("\n");
  return `<section class="table" id="${t.id}"><h3>${escapeHtml(t.title)}</h3>` +
    (t.note ? `<p class="note">${escapeHtml(t.note)}</p>` : "") +
    `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div></section>`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px}.sub{color:#666;margin:0 0 16px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:18px}
figure{margin:0;padding:12px;border:1px solid #e4e4e4;border-radius:6px;background:#fff;overflow-x:auto}
figure svg{display:block;max-width:100%;height:auto}figcaption{color:#555;font-size:13px;margin-top:6px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 9px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}.note{color:#555;font-size:13px;margin:2px 0 6px}
.recommendation{background:#f4f8fc;border-left:4px solid #4c78a8;padding:8px 16px;margin:12px 0}
.recommendation p,.findings p{margin:6px 0}.notes li{color:#8a5300}code{white-space:pre-wrap;font-size:12px}
#samples code{color:#777}#samples td:last-child code{color:#000;font-weight:600}
`;

/** The whole report as one HTML page. */
export function reportHtml(report: Report, figures: Figure[]): string {
  const tables = reportTables(report);
  const target = report.sources.find((s) => s.source === report.target);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>engram report: ${escapeHtml(report.target)}</title>
<style>${STYLE}</style></head>
<body><main>
<h1>Which rows will ${escapeHtml(report.target)} memorize?</h1>
<p class="sub">${plural(report.sources.length, "model@revision")}, ${
    report.rows.analysed.toLocaleString("en-US")
  } rows analysed;
target ${escapeHtml(report.target)} memorized ${target?.memorized.toLocaleString("en-US") ?? "–"} of them
(${pct(target?.memorized_fraction, 2)}). Generated by ${escapeHtml(report.generator)}, ${
    escapeHtml(report.created)
  }.</p>
${
    report.notes.length
      ? `<ul class="notes">${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>`
      : ""
  }
<h2>Forecasting at equal compute</h2>
<div class="recommendation">${
    report.recommendation.text.map((t) => `<p>${escapeHtml(t)}</p>`).join("\n")
  }</div>
${
    report.findings.length
      ? `<h2>Beyond the memorized sets</h2>
<div class="findings">${report.findings.map((t) => `<p>${escapeHtml(t)}</p>`).join("\n")}</div>`
      : ""
  }
<h2>Figures</h2>
<div class="figures">
${
    figures.map((f) =>
      `<figure id="fig-${f.id}">${f.svg}<figcaption><b>${escapeHtml(f.title)}.</b> ${
        escapeHtml(f.caption)
      }</figcaption></figure>`
    ).join("\n")
  }
</div>
<h2>Tables</h2>
${tables.map(htmlTable).join("\n")}
</main></body></html>
`;
}

const mdCell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function markdownTable(t: TextTable): string {
  const head = `| ${t.columns.map(mdCell).join(" | ")} |`;
  const rule = `|${t.numeric.slice(0, t.columns.length).map((n) => n ? " ---: " : " --- ").join("|")}|`;
  const rows = t.rows.map((r) =>
    `| ${
      r.map((c, i) => t.id === "samples" && i > 0 ? `\`${mdCell(c).replace(/`/g, "'")}\`` : mdCell(c)).join(
        " | ",
      )
    } |`
  );
  return [`### ${t.title}`, ...(t.note ? ["", t.note] : []), "", head, rule, ...rows, ""].join("\n");
}

/** The report's tables and recommendation as Markdown. */
export function reportMarkdown(report: Report): string {
  return [
    `# Which rows will ${report.target} memorize?`,
    "",
    `${plural(report.sources.length, "model@revision")}, ${
      plural(report.rows.analysed, "row")
    } analysed. Generated by ${report.generator}, ${report.created}.`,
    "",
    ...(report.notes.length ? [...report.notes.map((n) => `- ${n}`), ""] : []),
    "## Forecasting at equal compute",
    "",
    ...report.recommendation.text.flatMap((t) => [t, ""]),
    ...(report.findings.length
      ? ["## Beyond the memorized sets", "", ...report.findings.flatMap((t) => [t, ""])]
      : []),
    "## Tables",
    "",
    ...reportTables(report).map(markdownTable),
  ].join("\n");
}
