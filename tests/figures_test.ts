// Each figure builder rendered once through renderSvg, with what it must draw counted in the SVG; and the
// correlation tables' explanation of undefined cells.
import {
  forecastByComputeFigure,
  memorizedCorrelationFigure,
  memorizedFractionFigure,
  prCurveFigure,
  renderFigure,
  renderSvg,
  scoreHistogramFigure,
  trainingOrderFigure,
} from "../analysis/figures.ts";
import type { Forecast, HistogramBin, SourceSummary } from "../analysis/forecast.ts";
import { correlationTables } from "../analysis/html.ts";
import type { Report } from "../analysis/report.ts";
import { assert, assertEquals } from "./assert.ts";

/** The `<g class="...">` groups of a role in an SVG, with the number of marks (paths/lines/texts) each holds. */
function groups(svg: string, cls: string): number[] {
  const out: number[] = [];
  for (const m of svg.matchAll(new RegExp(`<g class="${cls}[^"]*"[^>]*>(.*?)</g>`, "gs"))) {
    out.push((m[1].match(/<(path|line|text)\b/g) ?? []).length);
  }
  return out;
}

/** The texts of one axis-label group after another. */
const labels = (svg: string) =>
  [...svg.matchAll(/<g class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/gs)].map((m) =>
    [...m[1].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1])
  );

const forecast = (predictor: string, family: Forecast["family"], compute: number, p: number, r: number) =>
  ({
    predictor,
    target: "t",
    family,
    precision: p,
    recall: r,
    compute_fraction: compute,
    predictor_params: null,
  }) as unknown as Forecast;

Deno.test("prCurveFigure: one step line per forecast, the binary points marked", async () => {
  const svg = await renderSvg(prCurveFigure(
    [
      { label: "a score", precision: [1, 0.6, 0.5], recall: [0.25, 0.75, 1] },
      { label: "b score", precision: [0.5], recall: [1] },
      { label: "combined", precision: [1, 0.8], recall: [0.5, 1] },
    ],
    [{ label: "a score", precision: 1, recall: 0.25 }, { label: "b score", precision: 0.5, recall: 1 }],
    "t",
  ));
  assertEquals(groups(svg, "mark-line role-mark").length, 3);
  assertEquals(groups(svg, "mark-symbol role-mark"), [2]);
  for (const name of ["a score", "b score", "combined"]) assert(svg.includes(`>${name}</text>`), name);
});

Deno.test("forecastByComputeFigure: fitted laws drawn as lines through the measured points", async () => {
  const list = [
    forecast("c1", "checkpoint", 0.25, 1, 0.1),
    forecast("c2", "checkpoint", 0.5, 1, 0.5),
    forecast("s1", "smaller model", 0.3, 0.9, 0.3),
  ];
  const curve = [0.1, 0.5, 1].map((c) => ({ compute_fraction: c, value: c / 2 }));
  const laws = [
    { family: "checkpoint" as const, metric: "recall" as const, curve },
    { family: "smaller model" as const, metric: "recall" as const, curve },
  ];
  const fitted = await renderSvg(forecastByComputeFigure(list, "t", laws));
  assertEquals(groups(fitted, "mark-line role-mark").length, 2, "one line per law");
  assertEquals(groups(fitted, "mark-symbol role-mark"), [6], "precision and recall of 3 predictors");
  assert(fitted.includes("fitted"));
  const plain = await renderSvg(forecastByComputeFigure(list, "t"));
  assertEquals(groups(plain, "mark-line role-mark").length, 4, "family × metric lines without laws");
});

Deno.test("trainingOrderFigure: a line per source, an interval per bucket", async () => {
  const points = ["m@1", "m@2"].flatMap((source) =>
    [0, 1, 2].map((b) => ({
      source,
      first_step: 10 * b,
      last_step: 10 * b + 9,
      fraction: 0.01 * (b + 1),
      low: 0.005,
      high: 0.05,
    }))
  );
  const svg = await renderSvg(
    trainingOrderFigure([...points, { ...points[0], fraction: null }], ["m@1", "m@2"]),
  );
  assertEquals(groups(svg, "mark-line role-mark").length, 2);
  assertEquals(groups(svg, "mark-rule role-mark"), [6]);
});

Deno.test("fixed figures: ticks at the model sizes, no grid through heatmap cells, empty bins drawn at 0", async () => {
  const summary = [362240, 728928, 1317632].map((params, i) => ({
    source: `p${i}@s`,
    revision: "s",
    params,
    memorized_fraction: 0.001 * i,
  })) as unknown as SourceSummary[];
  const sizes = await renderSvg(memorizedFractionFigure(summary, ["s"]));
  assertEquals(labels(sizes)[0], ["362k", "729k", "1.32M"], "x ticks are the sizes, the largest included");
  const heat = await renderSvg(memorizedCorrelationFigure(
    [{ group: "s", a: "x", b: "x", r: 1 }, { group: "s", a: "x", b: "y", r: 0.5 }],
    ["x", "y"],
    ["s"],
  ));
  assertEquals(groups(heat, "mark-rule role-axis-grid").length, 0);
  const bins = [0, 5, 0, 0, 200].map((count, k) => ({
    model: "m",
    k,
    score: k / 4,
    count,
  })) as HistogramBin[];
  const figure = await renderFigure(
    "hist",
    "Score distribution",
    "caption",
    scoreHistogramFigure(bins, ["m"]),
  );
  assertEquals(groups(figure.svg, "mark-symbol role-mark"), [5], "every bin is a point, the empty ones too");
  assertEquals(labels(figure.svg)[1], ["0", "1", "10", "100", "1,000"]);
  assert(figure.svg.includes('id="hist-') || !figure.svg.includes(' id="'), "ids are prefixed");
});

Deno.test("correlation tables say why a cell is –", () => {
  const correlations = {
    memorized: [{ group: "s", a: "x", b: "x", r: null }, { group: "s", a: "x", b: "y", r: 0.5 }],
    scores: [{ group: "m", a: "r1", b: "r2", r: 0.25 }],
  };
  const report = { correlations } as unknown as Report;
  const [memorized] = correlationTables(report, "memorized"), [scores] = correlationTables(report, "scores");
  assertEquals(memorized.rows[0][1], "–");
  assert(memorized.note!.includes("is constant"), memorized.note);
  assertEquals(scores.note, undefined, "no – to explain");
});
