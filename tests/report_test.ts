// The report's numbers against counts made here independently (plain loops over the raw files, no Arquero),
// on the pico reference and on synthetic inputs whose answers are known by construction.
import { parquetWriteBuffer } from "hyparquet-writer";
import { computeReport, type Report, reportFigures, writeReport } from "../analysis/report.ts";
import { thresholdText } from "../analysis/ranked.ts";
import { PICO_DATA, PICO_META, picoPath } from "../io/pico.ts";
import { visible } from "../analysis/samples.ts";
import { reportMarkdown } from "../analysis/html.ts";
import { collectInputFiles, publishedSplit } from "../analysis/load.ts";
import { type Provenance, type ScoreTable, writeResults } from "../io/results.ts";
import { reportCommand } from "../cli/report.ts";
import { Crc32 } from "../base/atomic.ts";
import { loadTokenizer } from "../io/texts.ts";
import { openRowSource } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { withTempDir } from "./helpers.ts";
import { tokenRows, writeMegatron } from "./megatron.ts";
import { assert, assertAlmostEquals, assertEquals, assertMatch, assertRejects } from "./assert.ts";

const REFERENCE = "fixtures/pico/reference/scores-pico-1-2-3.csv";
const SUITE = JSON.parse(Deno.readTextFileSync("fixtures/pico/suite.json"));

/** source → index → score, read with plain string splitting. */
function readReference(path = REFERENCE): Map<string, Map<number, number>> {
  const [header, ...lines] = Deno.readTextFileSync(path).trim().split("\n");
  const col = Object.fromEntries(header.split(",").map((c, i) => [c, i]));
  const out = new Map<string, Map<number, number>>();
  for (const line of lines) {
    const cells = line.split(",");
    const source = `${cells[col.model]}@${cells[col.revision]}`;
    if (!out.has(source)) out.set(source, new Map());
    out.get(source)!.set(Number(cells[col.index]), Number(cells[col.score]));
  }
  return out;
}

function counts(pred: boolean[], truth: boolean[]) {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  pred.forEach((p, i) => p && truth[i] ? tp++ : p ? fp++ : truth[i] ? fn++ : tn++);
  return { tp, fp, fn, tn };
}

function pearson(x: number[], y: number[]): number {
  const n = x.length, mx = x.reduce((a, b) => a + b) / n, my = y.reduce((a, b) => a + b) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

const forecastOf = (report: Report, predictor: string) => {
  const f = report.forecasts.find((f) => f.predictor === predictor);
  assert(f, `no forecast for ${predictor}`);
  return f;
};

Deno.test("report on the pico reference: forecasts, fractions, correlations and histogram match independent counts", async () => {
  const { report } = await computeReport({ results: [REFERENCE], models: "fixtures/pico/models" });
  const ref = readReference();
  const rows = [...ref.get("pico-3@step1092")!.keys()].sort((a, b) => a - b);
  assertEquals(rows.length, 2048);
  const memorized = (source: string) => rows.map((i) => ref.get(source)!.get(i) === 1);

  assertEquals(report.target, "pico-3@step1092", "default target: the largest model at its last revision");
  assertEquals(report.rows.analysed, 2048);
  const truth = memorized("pico-3@step1092");
  assertEquals(report.forecasts.length, 11);
  for (const source of ref.keys()) {
    if (source === report.target) continue;
    const f = forecastOf(report, source);
    const c = counts(memorized(source), truth);
    assertEquals({ tp: f.tp, fp: f.fp, fn: f.fn, tn: f.tn }, c, source);
    assertEquals(f.recall, c.tp / (c.tp + c.fn), `${source} recall`);
    assertEquals(f.precision, c.tp + c.fp ? c.tp / (c.tp + c.fp) : null, `${source} precision`);
    assertEquals(f.target, "pico-3@step1092");
  }
  // The example of the issue, with the fixture's values written out too.
  const p2 = forecastOf(report, "pico-2@step1092");
  assertEquals([p2.tp, p2.fp, p2.fn, p2.tn], [8, 0, 4, 2036]);
  assertEquals([p2.precision, p2.recall], [1, 8 / 12]);
  assertAlmostEquals(p2.f1!, 16 / 20, 1e-12);
  assertEquals(p2.family, "smaller model");
  assertAlmostEquals(
    p2.compute_fraction!,
    SUITE.models["pico-2"].params / SUITE.models["pico-3"].params,
    1e-12,
  );
  assertAlmostEquals(p2.recall_per_compute!, (8 / 12) / p2.compute_fraction!, 1e-12);
  assertEquals(forecastOf(report, "pico-3@step546").family, "checkpoint");
  assertEquals(forecastOf(report, "pico-3@step546").compute_fraction, 0.5);
  assertEquals(forecastOf(report, "pico-1@step1092").family, "smaller model");
  assertEquals(forecastOf(report, "pico-2@step819").family, "other");

  for (const s of report.sources) {
    const scores = rows.map((i) => ref.get(s.source)!.get(i)!);
    assertEquals(s.memorized, scores.filter((x) => x === 1).length, `${s.source} memorized`);
    assertAlmostEquals(s.memorized_fraction, s.memorized / 2048, 1e-15);
    assertAlmostEquals(s.mean_score!, scores.reduce((a, b) => a + b) / 2048, 1e-12, `${s.source} mean score`);
    assertEquals(s.params, SUITE.models[s.model].params, `${s.source} params from config.json`);
  }

  const phi = report.correlations.memorized.find((c) =>
    c.group === "step1092" && c.a === "pico-2" && c.b === "pico-3"
  );
  const ind = (s: string) => memorized(s).map(Number);
  assertAlmostEquals(phi!.r!, pearson(ind("pico-2@step1092"), ind("pico-3@step1092")), 1e-12);
  const none = report.correlations.memorized.find((c) =>
    c.group === "step273" && c.a === "pico-1" && c.b === "pico-2"
  );
  assertEquals(none!.r, null, "pico-1@step273 memorized nothing: r undefined");
  const sc = report.correlations.scores.find((c) =>
    c.group === "pico-1" && c.a === "step273" && c.b === "step546"
  );
  const scoresOf = (s: string) => rows.map((i) => ref.get(s)!.get(i)!);
  assertAlmostEquals(sc!.r!, pearson(scoresOf("pico-1@step273"), scoresOf("pico-1@step546")), 1e-12);

  const bins = report.histograms.filter((h) => h.source === "pico-3@step1092");
  assertEquals(bins.length, 33);
  for (const b of bins) {
    assertEquals(
      b.count,
      scoresOf("pico-3@step1092").filter((x) => Math.round(x * 32) === b.k).length,
      `k=${b.k}`,
    );
  }
  assertEquals(bins[32].count, 12);

  // Frontier: for each budget, the best recall within it (checked against the forecasts themselves).
  for (const b of report.recommendation.budgets) {
    const within = report.forecasts.filter((f) =>
      f.family !== "other" && f.compute_fraction !== null && f.compute_fraction <= b.budget + 1e-12
    );
    assertEquals(b.recall, Math.max(...within.map((f) => f.recall ?? 0)), `budget ${b.budget}`);
  }
  // 12 memorized rows: every recall's Wilson interval is wider than 30 points, so the text describes, not advises.
  assertMatch(
    report.recommendation.text.join(" "),
    /pico-3@step819 \(the target's own checkpoint\) recalls 91\.7% \(95%: 64\.6%–98\.5%\) .*; too uncertain to advise on: the 95% interval of its recall spans 34 percentage points/,
  );
  assert(!/\buse\b/.test(report.recommendation.text.join(" ")), "no advice where every interval is too wide");
});

Deno.test("report files: self-contained HTML with eight SVG figures, JSON with every forecast, Markdown tables, decoded rows", async () => {
  await withTempDir(async (dir) => {
    const { files, report } = await writeReport(dir, {
      results: ["fixtures/pico/reference"],
      models: "fixtures/pico/models",
      tokenizer: "fixtures/pico/tokenizer",
      data: "fixtures/pico/data/pico_document",
      samples: 5,
      cacheDir: join(dir, "cache"),
    });
    assertEquals(files.map((f) => f.slice(dir.length + 1)), ["report.html", "report.json", "report.md"]);
    const html = await Deno.readTextFile(join(dir, "report.html"));
    // Seven figures, and memorization over training order (rows per step from fixtures/pico/suite.json).
    assertEquals((html.match(/<figure /g) ?? []).length, 8);
    assertEquals((html.match(/<svg /g) ?? []).length, 8);
    assertMatch(html, /over training order/i);
    assert(!/<script|<link|<iframe|@import/i.test(html), "no scripts or external resources");
    assert(!/(src|href)="(https?:)?\/\//i.test(html), "no network references");
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    assertEquals(ids.length, new Set(ids).size, "ids unique across inline SVGs");

    const json = JSON.parse(await Deno.readTextFile(join(dir, "report.json")));
    for (const f of json.forecasts) {
      for (
        const key of [
          "predictor",
          "target",
          "precision",
          "recall",
          "f1",
          "tp",
          "fp",
          "fn",
          "tn",
          "compute_fraction",
        ]
      ) {
        assert(key in f, `forecast lacks ${key}`);
      }
      assertMatch(f.predictor, /^pico-\d@step\d+$/);
    }
    assertEquals(
      json.forecasts.find((f: { predictor: string }) => f.predictor === "pico-2@step1092").recall,
      8 / 12,
    );
    const md = await Deno.readTextFile(join(dir, "report.md"));
    assertMatch(md, /\| predictor \| family \| compute \| precision \| recall \|/);
    assertMatch(md, /\| pico-2@step1092 \| smaller model \| 55\.3% \| 100\.0% \| 66\.7% \|/);
    // The matrix tables (long lists in report.json, pivoted for reading): every cell where its row and column say.
    const cellsOf = (title: string) => {
      const lines = md.split("\n"), at = lines.indexOf(`### ${title}`);
      assert(at >= 0, `table ${title}`);
      const first = lines.findIndex((l, i) => i > at && l.startsWith("|"));
      const end = lines.findIndex((l, i) => i > first && !l.startsWith("|"));
      const rows = lines.slice(first, end).map((l) => l.slice(2, -2).split(" | "));
      return { head: rows[0], body: rows.slice(2) };
    };
    const scoreCorrelations = json.correlations.scores as {
      group: string;
      a: string;
      b: string;
      r: number | null;
    }[];
    for (const group of new Set(scoreCorrelations.map((c) => c.group))) {
      const { head, body } = cellsOf(`Pearson r of scores between checkpoints of ${group}`);
      const list = scoreCorrelations.filter((c) => c.group === group);
      assertEquals(body.length * (head.length - 1), list.length);
      for (const c of list) {
        const cell = body.find((r) => r[0] === c.a)![head.indexOf(c.b)];
        assertEquals(cell, c.r === null ? "–" : c.r.toFixed(3), `${group}: ${c.a} × ${c.b}`);
      }
    }
    const bins = json.histograms as { source: string; k: number; count: number }[];
    const histogram = cellsOf("Rows per score k/32");
    assertEquals(
      histogram.body.map((r) => Number(r[0])),
      [...new Set(bins.map((h) => h.k))].sort((a, b) => a - b),
    );
    for (const h of bins) {
      const cell = histogram.body.find((r) => Number(r[0]) === h.k)![histogram.head.indexOf(h.source)];
      assertEquals(Number(cell.replaceAll(",", "")), h.count, `${h.source} k=${h.k}`);
    }

    // Decoded rows: the same tokens decoded here through the data reader and tokenizer directly.
    assertEquals(report.samples!.length, 5);
    const tokenizer = await loadTokenizer("fixtures/pico/tokenizer");
    const data = await openRowSource("fixtures/pico/data/pico_document");
    try {
      for (const s of report.samples!) {
        const tokens = Array.from(await data.read([s.index], 0, 64));
        assertEquals(s.prompt, visible(tokenizer.decode(tokens.slice(0, 32))));
        assertEquals(s.continuation, visible(tokenizer.decode(tokens.slice(32))));
        // deno-lint-ignore no-control-regex
        assert(!/[\u0000-\u0008\u000b-\u001f]/.test(s.prompt + s.continuation), "control characters escaped");
      }
    } finally {
      data.close();
    }
    assert(html.includes("memorized continuation"), "samples in the page");
  });
});

Deno.test("report: --meta rows_per_step restricts to rows every checkpoint has trained on, compute from tokens", async () => {
  await withTempDir(async (dir) => {
    const meta = join(dir, "meta.csv");
    await Deno.writeTextFile(
      meta,
      "model,params,rows_per_step,tokens_per_row\npico-1,362240,4,256\npico-2,728928,4,256\npico-3,1317632,4,256\n",
    );
    const { report } = await computeReport({ results: [REFERENCE], meta });
    assertEquals(report.rows.seen_limit, 273 * 4);
    assertEquals(report.rows.analysed, 1092);
    assertMatch(report.notes.join(" "), /only rows below 1092 are analysed/);
    const ref = readReference();
    const rows = Array.from({ length: 1092 }, (_, i) => i);
    const c = counts(
      rows.map((i) => ref.get("pico-3@step546")!.get(i) === 1),
      rows.map((i) => ref.get("pico-3@step1092")!.get(i) === 1),
    );
    const f = forecastOf(report, "pico-3@step546");
    assertEquals({ tp: f.tp, fp: f.fp, fn: f.fn, tn: f.tn }, c);
    assertEquals(report.sources.find((s) => s.source === "pico-2@step1092")!.tokens_seen, 1092 * 4 * 256);
    assertEquals(report.sources[0].params_from, "--meta");
  });
});

Deno.test("report: --meta rows that name no model of the results are listed in a note, not ignored silently", async () => {
  await withTempDir(async (dir) => {
    const meta = join(dir, "meta.csv");
    await Deno.writeTextFile(meta, "model,params\npico-1,362240\nPICO-2,728928\npico-9,5\n");
    const { report } = await computeReport({ results: [REFERENCE], meta });
    const note = report.notes.find((n) => n.startsWith("--meta"));
    assertEquals(
      note,
      `--meta ${meta}: rows name no model of the results, ignored: PICO-2 (did you mean pico-2?), pico-9; ` +
        "model names are matched exactly",
    );
    assertEquals(report.sources.find((s) => s.source === "pico-2@step1092")!.params_from === "--meta", false);
    assertMatch(reportMarkdown(report), /PICO-2 \(did you mean pico-2\?\)/);
  });
});

Deno.test("report: one voice — overlapping lines named, captions promise only what is drawn, no empty panels", async () => {
  // The demo's rows (0..191) of the pico reference: 3 memorized rows, four forecasts with the same perfect curve,
  // no model memorizing anything at step273, a text that ranks at the base rate, one scaling law of four.
  const { report } = await computeReport({
    results: [REFERENCE],
    meta: picoPath(PICO_META),
    data: picoPath(PICO_DATA),
    universe: 192,
  });
  const figures = await reportFigures(report);
  const caption = (id: string) => figures.find((f) => f.id === id)!.caption;
  // Lines drawn over one another are listed, and labelled in the legend as the same curve.
  assertMatch(
    caption("pr-curves"),
    /pico-1@step1092, pico-2@step1092, pico-3@step819 and combined \(held out\) draw the same curve, one over another\./,
  );
  assertMatch(
    caption("pr-curves"),
    /The memorized sets of pico-1@step1092 and pico-3@step546 are one point \(recall 33\.3%, precision 100\.0%\)\./,
  );
  const pr = figures.find((f) => f.id === "pr-curves")!.spec as unknown as {
    layer: { data: { values: { label: string }[] } }[];
  };
  const labels = new Set(pr.layer[0].data.values.map((v) => v.label));
  assert(labels.has("pico-2@step1092 (= pico-1@step1092)"), [...labels].join(", "));
  assert(labels.has("combined (held out) (= pico-1@step1092)"), [...labels].join(", "));
  // One law of four is drawn: the caption names it, not "each family's".
  assertMatch(
    caption("forecast-compute"),
    /lines: logit\(y\) = a \+ b·ln\(compute\) fitted to the counts of the smaller models' \(dashed\) recall; the others have no law/,
  );
  assertEquals(report.scaling.filter((f) => f.law).map((f) => `${f.family} ${f.metric}`), [
    "smaller model recall",
  ]);
  // step273: no model memorized a row, every r undefined: no panel, no table of "–", said in words.
  const heatmap = figures.find((f) => f.id === "correlation-memorized")!;
  assert(!heatmap.svg.includes("step273"), "no step273 panel");
  assertMatch(heatmap.caption, /Left out: the revision step273, where r is undefined for every pair/);
  const md = reportMarkdown(report);
  assert(!md.includes("between models at step273"), "no step273 table");
  assertMatch(md, /Left out: step273, where r is undefined for every pair\./);
  // The text ranks at the base rate: not its "most telling" property.
  const text = report.findings.find((f) => f.startsWith("The text alone"))!;
  assert(!text.includes("most telling"), text);
  assertMatch(
    text,
    /no better than a random ranking: its best property, window copies .* holds the base rate 1\.56%/,
  );
  // Without a combined forecaster, the caption does not speak of its line; one model@revision is singular; a
  // report of extractable results (no scores) does not define memorized as "score 1".
  const without = { ...report, curves: report.curves.filter((c) => c.family !== "combined"), combined: null };
  const bare = (await reportFigures(without)).find((f) => f.id === "pr-curves")!.caption;
  assert(!bare.includes("combined"), bare);
  assertMatch(
    reportMarkdown({ ...report, sources: report.sources.slice(0, 1) }),
    /^1 model@revision, 192 rows analysed/m,
  );
  const extractable = {
    ...report,
    sources: report.sources.map((s) => ({ ...s, mean_score: null })),
    histograms: [], // no scores, no score distribution
  };
  const words = reportMarkdown(extractable) +
    (await reportFigures(extractable)).map((f) => f.caption + JSON.stringify(f.spec)).join(" ");
  assert(!/score = 1|score 1/.test(words), "extractable results: no score to define memorized by");
  assertMatch(words, /memorized = the greedy continuation equals the true one/);
  // A threshold at no compute (the text) is advice "with no model", not "with up to 0.0% of the compute".
  const [, advice] = thresholdText([{
    budget: 0,
    predictor: "text",
    feature: "window_copies",
    threshold: 2,
    predicted_when: ">=",
    recall: 0.5,
    recall_interval: { low: 0.4, high: 0.6 },
    precision: 0.95,
    memorized_set: null,
  }], 200);
  assertMatch(advice, /^With no model \(the text alone\), use text window_copies ≥ 2: it recalls 50\.0%/);
});

// --- synthetic inputs whose answers are known by construction ---

const BASE = 2 ** 32; // indices past 2^32: the long table must keep them exact
const N = 100;

function provenance(
  model: string,
  revision: string,
  params: number,
  mode: "score" | "extractable",
): Provenance {
  return {
    model,
    revision,
    model_path: `/models/${model}/${revision}`,
    params,
    config_hash: "0",
    data: "/data/toy",
    prompt: 32,
    continuation: 32,
    offset: 0,
    mode,
    paper_compatible: true,
    logprob: false,
    engram_version: "test",
    adapter: "test",
    start: BASE,
    count: N,
    rows: N,
    created: "2025-01-01T00:00:00Z",
  };
}

/** A results table over rows BASE..BASE+N-1 where exactly the rows in `memorized` are memorized. */
function toyTable(memorized: Set<number>, extractable = false): ScoreTable {
  const index = Float64Array.from({ length: N }, (_, i) => BASE + i);
  const matches = Int16Array.from({ length: N }, (_, i) => memorized.has(i) ? 32 : i % 32);
  return {
    index,
    matches: extractable ? null : matches,
    firstMismatch: Int16Array.from({ length: N }, (_, i) => memorized.has(i) ? 32 : 0),
    logprob: null,
    continuation: 32,
  };
}

const range = (a: number, b: number) => new Set(Array.from({ length: b - a }, (_, i) => a + i));

async function writeToySuite(dir: string): Promise<void> {
  await writeResults(
    join(dir, "l100.parquet"),
    toyTable(range(0, 20)),
    provenance("toy-l", "step100", 4e6, "score"),
  );
  await writeResults(
    join(dir, "l50.csv"),
    toyTable(range(10, 30)),
    provenance("toy-l", "step50", 4e6, "score"),
  );
  await writeResults(
    join(dir, "s100.jsonl"),
    toyTable(new Set([...range(0, 5), ...range(90, 95)])),
    provenance("toy-s", "step100", 1e6, "score"),
  );
  await writeResults(
    join(dir, "s50.parquet"),
    toyTable(range(0, 2), true),
    provenance("toy-s", "step50", 1e6, "extractable"),
  );
}

Deno.test("report on synthetic results in all three formats: known confusion counts, families, compute", async () => {
  await withTempDir(async (dir) => {
    await writeToySuite(dir);
    // toy-s@step50 was scored in extractable mode, the others in score mode: refused unless --allow-mixed.
    await expectError(
      () => computeReport({ results: [dir] }),
      /scored differently: .*mode "(score|extractable)" but .* has "(score|extractable)".*--allow-mixed/,
    );
    const { report } = await computeReport({ results: [dir], allowMixed: true });
    assertMatch(report.notes.join(" "), /compared \(--allow-mixed\): .*mode/);
    assertEquals(report.target, "toy-l@step100");
    assertEquals(report.rows.analysed, N);
    const expect = {
      "toy-l@step50": { tp: 10, fp: 10, fn: 10, tn: 70, family: "checkpoint", compute: 0.5 },
      "toy-s@step100": { tp: 5, fp: 5, fn: 15, tn: 75, family: "smaller model", compute: 0.25 },
      "toy-s@step50": { tp: 2, fp: 0, fn: 18, tn: 80, family: "other", compute: 0.125 },
    };
    for (const [predictor, e] of Object.entries(expect)) {
      const f = forecastOf(report, predictor);
      assertEquals([f.tp, f.fp, f.fn, f.tn, f.family, f.compute_fraction], [
        e.tp,
        e.fp,
        e.fn,
        e.tn,
        e.family,
        e.compute,
      ]);
      assertEquals(f.precision, e.tp / (e.tp + e.fp));
      assertEquals(f.recall, e.tp / 20);
    }
    assertEquals(report.recommendation.budgets.map((b) => [b.budget, b.predictor, b.recall]), [
      [0.25, "toy-s@step100", 0.25],
      [0.5, "toy-l@step50", 0.5],
    ]);
    // phi of toy-s vs toy-l at step100: tp 5, fp 5, fn 15, tn 75.
    const r = report.correlations.memorized.find((c) =>
      c.group === "step100" && c.a === "toy-s" && c.b === "toy-l"
    )!.r!;
    assertAlmostEquals(r, (5 * 75 - 5 * 15) / Math.sqrt(10 * 90 * 20 * 80), 1e-12);
    const extractable = report.sources.find((s) => s.source === "toy-s@step50")!;
    assertEquals([extractable.memorized, extractable.mean_score], [2, null]);
    assert(!report.histograms.some((h) => h.source === "toy-s@step50"), "no histogram without scores");
    const l100 = report.histograms.filter((h) => h.source === "toy-l@step100");
    assertEquals(l100.find((h) => h.k === 32)!.count, 20);
    assertEquals(
      l100.find((h) => h.k === 21)!.count,
      [...Array(N).keys()].filter((i) => i >= 20 && i % 32 === 21).length,
    );
    // --target by model name only: its last revision.
    const { report: other } = await computeReport({ results: [dir], target: "toy-s", allowMixed: true });
    assertEquals(other.target, "toy-s@step100");
    assertEquals(forecastOf(other, "toy-s@step50").family, "checkpoint");
    assertEquals(forecastOf(other, "toy-l@step100").family, "other");
  });
});

function publishedParquet(indices: number[]): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: "index", data: BigInt64Array.from(indices, (i) => BigInt(i)) },
      { name: "tokens", data: indices.map((i) => Array.from({ length: 64 }, (_, k) => (i + k) % 50000)) },
    ],
    schema: [
      { name: "root", num_children: 2 },
      { name: "index", type: "INT64", repetition_type: "REQUIRED" },
      { name: "tokens", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      { name: "element", type: "INT32", repetition_type: "OPTIONAL" },
    ],
  }));
}

Deno.test("report on published memorized-evals splits: unlisted rows count as not memorized given --universe", async () => {
  assertEquals(publishedSplit("x/duped.1.4b.parquet"), { model: "pythia-1.4b", revision: "step143000" });
  assertEquals(publishedSplit("deduped.12b.23000.parquet"), {
    model: "pythia-12b-deduped",
    revision: "step23000",
  });
  assertEquals(publishedSplit("data/deduped.70m-00000-of-00001.parquet"), {
    model: "pythia-70m-deduped",
    revision: "step143000",
  });
  await withTempDir(async (dir) => {
    await Deno.writeFile(join(dir, "deduped.70m.parquet"), publishedParquet([1, 2, 3]));
    await Deno.writeFile(join(dir, "deduped.1.4b.parquet"), publishedParquet([1, 2, 3, 4, 5, 6]));
    await Deno.writeFile(join(dir, "deduped.12b.parquet"), publishedParquet([2, 3, 4, 5, 6, 7, 8, 9]));
    await Deno.writeFile(join(dir, "deduped.12b.23000.parquet"), publishedParquet([5, 100]));
    await assertRejects(() => computeReport({ results: [dir] }), EngramError, "--universe");
    const { report } = await computeReport({ results: [dir], universe: 1000 });
    assertEquals(report.target, "pythia-12b-deduped@step143000");
    assertEquals(report.rows.analysed, 1000);
    const expect = {
      "pythia-70m-deduped@step143000": [2, 1, 6, 991, "smaller model"],
      "pythia-1.4b-deduped@step143000": [5, 1, 3, 991, "smaller model"],
      "pythia-12b-deduped@step23000": [1, 1, 7, 991, "checkpoint"],
    };
    for (const [predictor, e] of Object.entries(expect)) {
      const f = forecastOf(report, predictor);
      assertEquals([f.tp, f.fp, f.fn, f.tn, f.family], e, predictor);
    }
    assertAlmostEquals(
      forecastOf(report, "pythia-70m-deduped@step143000").compute_fraction!,
      70426624 / 11846072320,
      1e-15,
    );
    assertAlmostEquals(
      forecastOf(report, "pythia-12b-deduped@step23000").compute_fraction!,
      23000 / 143000,
      1e-15,
    );
    const target = report.sources.find((s) => s.source === report.target)!;
    assertEquals([target.memorized, target.memorized_fraction, target.mean_score], [8, 8 / 1000, null]);
    assertEquals(report.histograms, [], "memorized-evals carry no scores");
    // phi 70m vs 1.4b at step143000: tp 3, fp 0, fn 3, tn 994.
    const r = report.correlations.memorized.find((c) =>
      c.a === "pythia-70m-deduped" && c.b === "pythia-1.4b-deduped"
    )!.r!;
    assertAlmostEquals(r, (3 * 994 - 0) / Math.sqrt(3 * 997 * 6 * 994), 1e-12);

    await withTempDir(async (out) => {
      const { files } = await writeReport(out, { results: [dir], universe: 1000 });
      const html = await Deno.readTextFile(files[0]);
      assertEquals(
        [...html.matchAll(/<figure id="fig-([a-z-]+)"/g)].map((m) => m[1]),
        [
          "memorized-fraction",
          "forecast-size",
          "forecast-compute",
          "correlation-memorized",
          "training-order",
        ],
        "no score figures without scores; Pythia's rows per step give the training order",
      );
    });
    await assertRejects(() => computeReport({ results: [dir], universe: 50 }), EngramError, "lists row 100");
    await Deno.writeFile(join(dir, "memorized.parquet"), publishedParquet([1]));
    await assertRejects(() => computeReport({ results: [dir], universe: 1000 }), EngramError, "split");
    // Rows with a memorized flag (or matches) but no first_mismatch are no list of memorized rows.
    await withTempDir(async (other) => {
      for (const [name, data] of [["memorized", [false, true, false]], ["matches", [3, 32, 0]]] as const) {
        await Deno.writeFile(
          join(other, "deduped.70m.parquet"),
          new Uint8Array(parquetWriteBuffer({
            columnData: [{ name: "index", data: BigInt64Array.from([0n, 1n, 2n]) }, {
              name,
              data: [...data],
            }],
          })),
        );
        await expectError(
          () => computeReport({ results: [other], universe: 1000 }),
          /deduped\.70m\.parquet: no "first_mismatch" column \(has index, (memorized|matches)\)/,
        );
      }
    });
  });
});

async function expectError(fn: () => Promise<unknown>, includes: string | RegExp): Promise<void> {
  const e = await assertRejects(fn, EngramError, includes);
  assert(!e.message.includes("\n"), `one line: ${e.message}`);
}

Deno.test("report: bad inputs are clear one-line errors; missing rows are reported with --intersect", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "empty"));
    await expectError(() => computeReport({ results: [] }), "no results given");
    await expectError(() => computeReport({ results: [join(dir, "empty")] }), "no results files");
    await expectError(() => computeReport({ results: [join(dir, "nope")] }), "not found");
    // A model in two rows of --meta: which of them is meant cannot be told.
    await Deno.writeTextFile(join(dir, "meta.csv"), "model,params\npico-1,100\npico-2,400\npico-1,800\n");
    await expectError(
      () => computeReport({ results: [REFERENCE], meta: join(dir, "meta.csv") }),
      /meta\.csv: pico-1 has two rows; keep one row per model/,
    );
    // A number too large for a double is quoted as written (not "Infinity"); an unclosed quote names file and line.
    await Deno.writeTextFile(join(dir, "meta.csv"), "model,params\npico-1,100\npico-2,1e400\n");
    await expectError(
      () => computeReport({ results: [REFERENCE], meta: join(dir, "meta.csv") }),
      /^--meta .*meta\.csv: params of pico-2 is "1e400"; expected a positive number$/,
    );
    await Deno.writeTextFile(join(dir, "meta.csv"), 'model,params\npico-1,100\n"pico-2,400\npico-3,900\n');
    await expectError(
      () => computeReport({ results: [REFERENCE], meta: join(dir, "meta.csv") }),
      /^--meta .*meta\.csv:3: a quoted cell is not closed/,
    );
    await expectError(
      () => computeReport({ results: [REFERENCE], target: "pico-9@step1" }),
      /pico-9@step1 is not among/,
    );
    await expectError(() => computeReport({ results: [REFERENCE], target: "pico-3@step5" }), "pass one of");
    await expectError(
      () => computeReport({ results: [REFERENCE], tokenizer: "fixtures/pico/tokenizer" }),
      "--data",
    );

    const header = "model,revision,index,score\n";
    const rows = (model: string, n: number, score = (i: number) => (i % 3 === 0 ? 1 : 0.5)) =>
      Array.from({ length: n }, (_, i) => `${model},step10,${i},${score(i)}`).join("\n") + "\n";
    const a = join(dir, "a.csv"), b = join(dir, "b.csv"), c = join(dir, "c.csv"), d = join(dir, "d.csv");
    await Deno.writeTextFile(a, header + rows("m-1", 30) + rows("m-2", 30));
    await Deno.writeTextFile(b, header + rows("m-3", 24));
    await expectError(
      () => computeReport({ results: [a, b] }),
      /m-3@step10 lacks 6 of the 30 rows.*--intersect/,
    );
    const { report } = await computeReport({ results: [a, b], intersect: true });
    assertEquals(report.rows.analysed, 24);
    const m1 = report.sources.find((s) => s.source === "m-1@step10")!;
    const m3 = report.sources.find((s) => s.source === "m-3@step10")!;
    assertEquals([m1.rows_missing, m1.rows_excluded, m3.rows_missing, m3.rows_excluded], [0, 6, 6, 0]);
    await withTempDir(async (out) => {
      await writeReport(out, { results: [a, b], intersect: true });
      assertMatch(await Deno.readTextFile(join(out, "report.md")), /m-3@step10: rows missing \| 6 \|/);
    });

    // The same row twice with the same result is fine; with different results it is an error.
    await Deno.writeTextFile(c, header + rows("m-1", 30));
    const { report: same } = await computeReport({ results: [a, c] });
    assertEquals(same.sources.find((s) => s.source === "m-1@step10")!.memorized, 10);
    await Deno.writeTextFile(d, header + rows("m-1", 30, (i) => (i === 7 ? 1 : i % 3 === 0 ? 1 : 0.5)));
    await expectError(() => computeReport({ results: [a, d] }), /m-1@step10 row 7 has conflicting results/);

    // Results without provenance cannot say which model they belong to.
    const bare = join(dir, "bare.csv");
    await Deno.writeTextFile(bare, "index,score,matches,first_mismatch,memorized\n0,1,32,32,true\n");
    await expectError(() => computeReport({ results: [bare] }), "no provenance");
    await Deno.writeTextFile(join(dir, "notes.txt"), "x");
    await expectError(
      () => computeReport({ results: [join(dir, "notes.txt")] }),
      "not a .parquet, .csv or .jsonl",
    );
  });
});

Deno.test("cli report: flags, output folder and errors", async () => {
  await withTempDir(async (dir) => {
    const log = console.log;
    const printed: string[] = [];
    console.log = (...args: unknown[]) => printed.push(args.join(" "));
    try {
      await reportCommand(["--results", REFERENCE, "--models", "fixtures/pico/models", "--out", dir]);
      await reportCommand(["--help"]);
    } finally {
      console.log = log;
    }
    assertMatch(printed.join("\n"), /target pico-3@step1092 memorized 12/);
    assertMatch(printed.join("\n"), /--universe N/);
    for (const name of ["report.html", "report.json", "report.md"]) {
      assert((await Deno.stat(join(dir, name))).size > 0);
    }
    await expectError(() => reportCommand(["--bogus"]), "report:");
    await expectError(() => reportCommand(["--results", REFERENCE, "--universe", "x"]), "--universe must be");
  });
});

// --- the column engine: planted answers at bitset and page boundaries, spills, duplicates, mixed inputs ---

const CSV_HEADER = "model,revision,index,score\n";
/** A reference CSV of `source` (model@revision, split on the last @) with score(i) for each index. */
const csvRows = (source: string, indices: number[], score: (i: number) => number) => {
  const cut = source.lastIndexOf("@");
  return indices.map((i) => `${source.slice(0, cut)},${source.slice(cut + 1)},${i},${score(i)}`).join("\n") +
    "\n";
};

Deno.test("report columns: rows across bitset words and pages, in memory and spilled, give the same planted counts", async () => {
  await withTempDir(async (dir) => {
    // 65,569 rows: past one page (65,536) and not a multiple of 32; memorized rows on word and page edges.
    const n = 65536 + 33;
    const rows = Array.from({ length: n }, (_, i) => i);
    const edges = [0, 31, 32, 63, 64, 65535, 65536, 65567, 65568];
    const bigMemorized = new Set([...edges, ...rows.filter((i) => i % 97 === 5)]);
    const smallMemorized = new Set([31, 32, 65536, ...rows.filter((i) => i % 194 === 5)]);
    const score = (set: Set<number>) => (i: number) =>
      set.has(i) ? 1 : (i % 33) / 32 === 1 ? 0 : (i % 33) / 32;
    const big = score(bigMemorized), small = score(smallMemorized);
    // Rows in reverse order and split over two files (so pages fill out of order, across files).
    await Deno.writeTextFile(
      join(dir, "a.csv"),
      CSV_HEADER + csvRows("m-2@step10", rows.toReversed().slice(0, 40000), big) +
        csvRows("m-1@step10", rows, small),
    );
    await Deno.writeTextFile(
      join(dir, "b.csv"),
      CSV_HEADER + csvRows("m-2@step10", rows.toReversed().slice(40000), big),
    );
    const meta = join(dir, "meta.txt");
    await Deno.writeTextFile(meta, "model,params\nm-1,100\nm-2,200\n");
    const expected = counts(rows.map((i) => smallMemorized.has(i)), rows.map((i) => bigMemorized.has(i)));
    const histogram = Array.from(
      { length: 33 },
      (_, k) => rows.filter((i) => Math.round(big(i) * 32) === k).length,
    );
    for (const memoryBudget of [undefined, 0]) {
      const { report } = await computeReport({
        results: [join(dir, "a.csv"), join(dir, "b.csv")],
        meta,
        memoryBudget,
      });
      assertEquals(report.rows.analysed, n);
      assertEquals(report.target, "m-2@step10");
      const f = forecastOf(report, "m-1@step10");
      assertEquals({ tp: f.tp, fp: f.fp, fn: f.fn, tn: f.tn }, expected, `budget ${memoryBudget}`);
      assertEquals(report.sources.map((s) => s.memorized), [smallMemorized.size, bigMemorized.size]);
      assertEquals(
        report.histograms.filter((h) => h.source === "m-2@step10").map((h) => h.count),
        histogram,
      );
      const mean = rows.reduce((a, i) => a + big(i), 0) / n;
      assertAlmostEquals(report.sources[1].mean_score!, mean, 1e-12);
      const r = report.correlations.scores.length; // one model each: only the diagonal
      assertEquals(r, 2);
    }
  });
});

Deno.test("report columns: the dataset API gives aligned per-row columns and memorized bitsets; the score's curve and histogram", async () => {
  const { buildDataset } = await import("../analysis/dataset.ts");
  const { FIRST_MISMATCH_UNKNOWN } = await import("../analysis/columns.ts");
  const { hasRow } = await import("../analysis/bitset.ts");
  await withTempDir(async (dir) => {
    const base = 3 * 65536 - 10; // rows straddle a page boundary at an index far from 0
    const indices = Array.from({ length: 50 }, (_, i) => base + i);
    const sa = (i: number) => ((i * 7) % 33) / 32,
      sb = (i: number) => (i % 5 === 0 ? 1 : ((i * 3) % 32) / 32);
    const file = join(dir, "x.csv");
    await Deno.writeTextFile(
      file,
      CSV_HEADER + csvRows("p@step1", indices, sa) + csvRows("t@step1", indices.toReversed(), sb),
    );
    const dataset = await buildDataset([file], { memoryBudget: 0 });
    try {
      // Columns are over the analysed rows (row k: the k-th analysed position), bitsets over the positions.
      const a = await dataset.columns("p@step1"), t = dataset.memorized.get("t@step1")!;
      const only = await dataset.columns("t@step1", ["matches"]);
      assertEquals([a.matches!.length, a.firstMismatch!.length, a.logprob], [50, 50, null]);
      assertEquals([only.matches!.length, only.firstMismatch, only.logprob], [50, null, null]);
      let k = 0;
      for (let p = 0; p < dataset.space.positions; p++) {
        const i = dataset.space.index(p);
        const inRows = i >= base && i < base + 50;
        assertEquals(hasRow(dataset.analysed, p), inRows, `analysed ${i}`);
        if (!inRows) continue;
        assertEquals(a.matches![k], Math.round(sa(i) * 32), `matches of ${i}`);
        assertEquals(
          a.firstMismatch![k],
          sa(i) === 1 ? 32 : FIRST_MISMATCH_UNKNOWN,
          `first_mismatch of ${i}`,
        );
        assertEquals(only.matches![k], Math.round(sb(i) * 32), `t's matches of ${i}`);
        assertEquals(hasRow(t, p), sb(i) === 1, `memorized of ${i}`);
        k++;
      }
      assertEquals(k, 50);
      assertEquals(dataset.memorizedCount.get("t@step1"), indices.filter((i) => sb(i) === 1).length);
    } finally {
      dataset.close();
    }
    // Through the report: p's score k ranks the rows for t's memorized set (predicted: k ≥ threshold), and
    // its histogram counts each k; both counted here row by row.
    const { report } = await computeReport({ results: [file], memoryBudget: 0 });
    assertEquals(report.target, "t@step1");
    const curve = report.curves.find((c) => c.predictor === "p@step1" && c.feature === "score")!;
    const k = (i: number) => Math.round(sa(i) * 32), memorized = (i: number) => sb(i) === 1;
    const ks = [...new Set(indices.map(k))].sort((x, y) => y - x);
    const positives = indices.filter(memorized).length;
    assertEquals(curve.thresholds, ks.map((x) => x / 32));
    ks.forEach((x, j) => {
      const predicted = indices.filter((i) => k(i) >= x), tp = predicted.filter(memorized).length;
      assertEquals(curve.precision[j], tp / predicted.length, `precision at k ${x}`);
      assertEquals(curve.recall[j], tp / positives, `recall at k ${x}`);
    });
    const histogram = report.histograms.filter((h) => h.source === "p@step1").map((h) => h.count);
    assertEquals(histogram, Array.from({ length: 33 }, (_, x) => indices.filter((i) => k(i) === x).length));
  });
});

Deno.test("report columns: one-row sources, empty inputs, the universe's end, duplicates and conflicts across files", async () => {
  await withTempDir(async (dir) => {
    // One row per source.
    const one = join(dir, "one.csv");
    await Deno.writeTextFile(one, CSV_HEADER + "m-1,step10,7,1\nm-2,step10,7,1\n");
    const { report } = await computeReport({ results: [one] });
    assertEquals(report.rows.analysed, 1);
    assertEquals([report.forecasts[0].tp, report.forecasts[0].fp], [1, 0]);
    // An input with no rows is listed with 0 rows; all inputs empty is an error.
    const empty = join(dir, "empty.csv");
    await Deno.writeTextFile(empty, CSV_HEADER);
    const { report: withEmpty } = await computeReport({ results: [one, empty] });
    assertEquals(withEmpty.inputs.map((i) => [i.file, i.rows]), [[empty, 0], [one, 2]]);
    await expectError(() => computeReport({ results: [empty] }), "hold no rows");

    // Memorized-evals lists at the universe's end (97 rows: the last word is partial).
    const evals = join(dir, "evals");
    await Deno.mkdir(evals);
    await Deno.writeFile(join(evals, "deduped.70m.parquet"), publishedParquet([0, 31, 32, 96]));
    await Deno.writeFile(join(evals, "deduped.12b.parquet"), publishedParquet([31, 32, 63, 64, 95, 96]));
    const { report: listed } = await computeReport({ results: [evals], universe: 97 });
    assertEquals(listed.rows.analysed, 97);
    const f = forecastOf(listed, "pythia-70m-deduped@step143000");
    assertEquals([f.tp, f.fp, f.fn, f.tn], [3, 1, 3, 90]);
    await expectError(() => computeReport({ results: [evals], universe: 96 }), "lists row 96");

    // The same rows in two files: fine when equal; a conflict names both files and the row.
    const rows = Array.from({ length: 64 }, (_, i) => i);
    const s = (i: number) => (i % 4 === 0 ? 1 : 0.25);
    await Deno.writeTextFile(join(dir, "c1.csv"), CSV_HEADER + csvRows("m-1@step10", rows, s));
    await Deno.writeTextFile(join(dir, "c2.csv"), CSV_HEADER + csvRows("m-1@step10", rows.slice(30), s));
    const { report: same } = await computeReport({ results: [join(dir, "c1.csv"), join(dir, "c2.csv")] });
    assertEquals(same.sources[0].rows_loaded, 64);
    assertEquals(same.sources[0].memorized, 16);
    await Deno.writeTextFile(
      join(dir, "c3.csv"),
      CSV_HEADER + csvRows("m-1@step10", rows.slice(30), (i) => (i === 40 || i === 41 ? 0.5 : s(i))),
    );
    const e = await assertRejects(
      () => computeReport({ results: [join(dir, "c1.csv"), join(dir, "c3.csv")], memoryBudget: 0 }),
      EngramError,
    );
    assertMatch(
      e.message,
      /m-1@step10 row 40 has conflicting results \(score 1, .* in .*c1\.csv; score 0\.5, .* in .*c3\.csv\) and 2 rows conflict/,
    );
  });
});

Deno.test("report: a reference CSV whose model name holds @ is refused (org@m-1@step10 could be org's m-1@step10 or org@m-1's step10)", async () => {
  await withTempDir(async (dir) => {
    const rows = Array.from({ length: 40 }, (_, i) => i);
    const path = join(dir, "at.csv");
    await Deno.writeTextFile(
      path,
      CSV_HEADER + csvRows("m-2@step10", rows, (i) => (i < 2 ? 1 : 0)) +
        csvRows("org@m-1@step10", rows, (i) => (i < 8 ? 1 : 0)),
    );
    await expectError(
      () => computeReport({ results: [path] }),
      /at\.csv: row 41 \(org@m-1@step10, index 0\) has model "org@m-1", which contains "@"/,
    );
  });
});

/** A results file of `model@revision` over rows start..start+count-1 with its provenance (model_path and data
 *  as given), memorized where `memorized(i)`. */
async function writeScored(
  path: string,
  p: Partial<Provenance> & { model: string; revision: string },
  start: number,
  count: number,
  memorized: (i: number) => boolean,
): Promise<void> {
  const index = Float64Array.from({ length: count }, (_, i) => start + i);
  await writeResults(path, {
    index,
    matches: Int16Array.from(index, (i) => memorized(i) ? 32 : i % 31),
    firstMismatch: Int16Array.from(index, (i) => memorized(i) ? 32 : (i % 31) === 0 ? 0 : 1),
    logprob: null,
    continuation: 32,
  }, { ...provenance(p.model, p.revision, 1e6, "score"), start, count, rows: count, ...p });
}

/** Writes CSV data and ties its sidecar to it (length and CRC-32), so only the rows themselves are wrong. */
async function writeTiedCsv(path: string, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  await Deno.writeFile(path, bytes);
  const crc = new Crc32();
  crc.update(bytes);
  const side = JSON.parse(await Deno.readTextFile(`${path}.provenance.json`));
  side.results_file = { bytes: bytes.length, crc32: crc.hex() };
  await Deno.writeTextFile(`${path}.provenance.json`, JSON.stringify(side));
}

Deno.test("report: results are checked against their provenance; sources scored differently are refused by field", async () => {
  await withTempDir(async (dir) => {
    const mem = (i: number) => i % 9 === 0;
    await writeScored(join(dir, "a.csv"), { model: "m-1", revision: "step1" }, 0, 65, mem);
    await writeScored(join(dir, "b.csv"), { model: "m-2", revision: "step1" }, 0, 65, mem);
    const files = [join(dir, "a.csv"), join(dir, "b.csv")];
    const { report } = await computeReport({ results: files });
    assertEquals(report.rows.analysed, 65);
    // A bad index in one of several files (its sidecar tied to the changed data, as another tool might write
    // it): the file and the value are named.
    const text = await Deno.readTextFile(files[1]);
    await writeTiedCsv(files[1], text.replace("\n5,", "\n1000,"));
    await expectError(
      () => computeReport({ results: files }),
      /b\.csv: row \d+ has index 1000\b/,
    );
    // Fewer rows than the provenance says (a truncated copy).
    await writeTiedCsv(files[1], text.split("\n").slice(0, -6).join("\n") + "\n");
    await expectError(
      () => computeReport({ results: files }),
      /b\.csv: holds 60 rows but its provenance says 65 \(rows \[0, 65\)\)/,
    );
    // A shard holds its share of the job's rows.
    for (const [i, model] of [[0, "m-1"], [1, "m-2"]] as const) {
      await writeScored(
        files[i],
        { model, revision: "step1", shard: "1/2", start: 0, count: 130 },
        65,
        65,
        mem,
      );
    }
    assertEquals((await computeReport({ results: files })).report.rows.analysed, 65);
    await writeScored(files[0], { model: "m-1", revision: "step1" }, 0, 65, mem);
    // Scored with another prompt: refused, naming both sources and the field; --allow-mixed notes it.
    await writeScored(files[1], { model: "m-2", revision: "step1", prompt: 16 }, 0, 65, mem);
    await expectError(
      () => computeReport({ results: files }),
      /scored differently: m-1@step1 has prompt 32 but m-2@step1 has 16; .*--allow-mixed/,
    );
    const { report: mixed } = await computeReport({ results: files, allowMixed: true });
    assertMatch(mixed.notes.join(" "), /--allow-mixed\): m-1@step1 has prompt 32 but m-2@step1 has 16/);
    await withTempDir(async (out) => {
      await writeReport(join(out, "r"), { results: files, allowMixed: true });
      assertMatch(
        await Deno.readTextFile(join(out, "r", "report.md")),
        /- sources scored differently are compared/,
      );
    });
  });
});

Deno.test("report: two files of one model@revision scored differently are refused as two sources would be", async () => {
  await withTempDir(async (dir) => {
    const mem = (i: number) => i % 9 === 0;
    // m-1@step1's rows in two files, the first (read first) scored from another offset or with another
    // tokenizer; m-2 scored as the second.
    const job = { model: "m-1", revision: "step1", start: 0, count: 65 };
    await writeScored(join(dir, "b.csv"), { ...job, shard: "1/2" }, 32, 33, mem);
    await writeScored(join(dir, "c.csv"), { model: "m-2", revision: "step1" }, 0, 65, mem);
    for (const [field, value] of [["offset", 100], ["tokenizer", "/t/tokenizer.json"]] as const) {
      await writeScored(join(dir, "a.csv"), { ...job, shard: "0/2", [field]: value }, 0, 32, mem);
      await expectError(
        () => computeReport({ results: [dir] }),
        new RegExp(
          `scored differently: m-1@step1 \\(.*a\\.csv\\) has ${field} ${
            JSON.stringify(value).replaceAll(".", "\\.")
          } but m-1@step1 \\(.*b\\.csv\\) has \\S+; .*--allow-mixed`,
        ),
      );
    }
    const { report } = await computeReport({ results: [dir], allowMixed: true });
    assertEquals(report.rows.analysed, 65);
    assertMatch(
      report.notes.join(" "),
      /--allow-mixed\): m-1@step1 \(.*a\.csv\) has tokenizer "\/t\/tokenizer\.json" but .* none/,
    );
  });
});

Deno.test("report: sources scored on other data at the same path (data fingerprints differ) are refused; files without one are not compared", async () => {
  await withTempDir(async (dir) => {
    const mem = (i: number) => i % 9 === 0;
    const files = ["a", "b", "c"].map((f) => join(dir, `${f}.csv`));
    await writeScored(
      files[0],
      { model: "m-1", revision: "step1", data_fingerprint: "0".repeat(32) },
      0,
      65,
      mem,
    );
    await writeScored(files[1], { model: "m-2", revision: "step1" }, 0, 65, mem); // an older engram's: none
    await writeScored(
      files[2],
      { model: "m-3", revision: "step1", data_fingerprint: "0".repeat(32) },
      0,
      65,
      mem,
    );
    assertEquals((await computeReport({ results: files })).report.rows.analysed, 65);
    await writeScored(
      files[2],
      { model: "m-3", revision: "step1", data_fingerprint: "1".repeat(32) },
      0,
      65,
      mem,
    );
    await expectError(
      () => computeReport({ results: files }),
      /scored differently: m-1@step1 has data_fingerprint "0{32}" but m-3@step1 has "1{32}"; .*--allow-mixed/,
    );
  });
});

Deno.test("report folder: written whole into place; an existing report is replaced only by a complete one", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "report");
    await writeReport(out, { results: [REFERENCE] });
    await Deno.writeTextFile(join(out, "stale.txt"), "from before");
    const before = await Deno.readTextFile(join(out, "report.json"));
    // A failing run leaves the old report as it was.
    await expectError(() => writeReport(out, { results: [REFERENCE], target: "nope@x" }), "not among");
    assertEquals(await Deno.readTextFile(join(out, "report.json")), before);
    // A complete run replaces the folder as a whole (the stale file goes with the old folder).
    await writeReport(out, { results: [REFERENCE], target: "pico-2" });
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
      "report.html",
      "report.json",
      "report.md",
    ]);
    assertEquals(JSON.parse(await Deno.readTextFile(join(out, "report.json"))).target, "pico-2@step1092");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["report"], "no temporary folders left");
    // A folder of other files, or one holding the results, is never replaced by the report.
    const scores = join(dir, "scores");
    await Deno.mkdir(scores);
    await Deno.copyFile(REFERENCE, join(scores, "reference.csv"));
    for (
      const [results, out, why] of [
        [
          [scores],
          scores,
          /--out .*scores holds the results .*scores, and the report replaces that folder whole/,
        ],
        [[join(scores, "reference.csv")], dir, /--out .* holds the results .*reference\.csv/],
        [[REFERENCE], scores, /--out .*scores holds other files than a report \(reference\.csv\)/],
      ] as const
    ) {
      await expectError(() => writeReport(out, { results: [...results] }), why);
      assertEquals([...Deno.readDirSync(scores)].map((e) => e.name), ["reference.csv"], "the results stay");
    }
    await Deno.remove(scores, { recursive: true });
    // An output that is a file, or under a file: one engram: line each.
    await Deno.writeTextFile(join(dir, "file"), "x");
    await expectError(() => writeReport(join(dir, "file"), { results: [REFERENCE] }), "is a file");
    await expectError(
      () => writeReport(join(dir, "file", "r"), { results: [REFERENCE] }),
      "cannot make the folder",
    );
  });
});

Deno.test("report on reference CSVs (no provenance) finds rows per step in the suite.json above --models", async () => {
  const { report } = await computeReport({
    results: [REFERENCE],
    models: "fixtures/pico/models",
    samples: 0,
    textFeatures: false,
  });
  // fixtures/pico/suite.json: 64 rows per step, so the earliest checkpoints (step273) have seen 273 × 64 rows.
  assertEquals(report.rows.seen_limit, 273 * 64);
  assertEquals(report.sources.find((s) => s.source === "pico-1@step546")!.tokens_seen, 546 * 64 * 256);
  assert(!report.notes.some((n) => /rows per step unknown/.test(n)), report.notes.join(" | "));
});

Deno.test("report finds sizes, rows per step, data and tokenizer from the results' provenance (suite.json, engram.json)", async () => {
  await withTempDir(async (dir) => {
    const { resolve } = await import("../base/path.ts");
    const models = resolve("fixtures/pico/models"), data = resolve("fixtures/pico/data/pico_document");
    const mem = (i: number) => i % 7 === 0;
    for (const [model, revision] of [["pico-1", "step1092"], ["pico-2", "step546"], ["pico-2", "step1092"]]) {
      await writeScored(
        join(dir, "scores", `${model}@${revision}.parquet`),
        {
          model,
          revision,
          model_path: join(models, model, revision),
          data,
          params: SUITE.models[model].params,
        },
        0,
        100,
        (i) => model === "pico-1" ? i % 14 === 0 : mem(i),
      );
    }
    const { report } = await computeReport({ results: [join(dir, "scores")], samples: 2 });
    // fixtures/pico/suite.json: batch 64 rows per step; tokens per row = tokens_seen / (steps × batch) = 256.
    assertEquals(report.rows.seen_limit, 546 * 64);
    const p1 = report.sources.find((s) => s.source === "pico-1@step1092")!;
    assertEquals(p1.tokens_seen, 1092 * 64 * 256);
    assertAlmostEquals(
      forecastOf(report, "pico-1@step1092").compute_fraction!,
      SUITE.models["pico-1"].params / SUITE.models["pico-2"].params,
      1e-12,
    );
    assertEquals(report.samples!.map((s) => s.index), [0, 49]);
    assertMatch(report.samples_note!, /pico_document/);
    assert(!report.notes.some((n) => /rows per step unknown|not decoded/.test(n)), report.notes.join(" | "));

    // engram.json beside a model folder that has no suite.json; nothing to decode with: said in the notes.
    const elsewhere = join(dir, "models", "toy", "step10");
    await Deno.mkdir(elsewhere, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "models", "toy", "engram.json"),
      '{"rows_per_step": 4, "tokens_per_row": 8}',
    );
    await writeScored(
      join(dir, "toy", "a.csv"),
      { model: "toy", revision: "step10", model_path: elsewhere, data: join(dir, "none") },
      0,
      64,
      mem,
    );
    await writeScored(
      join(dir, "toy", "b.csv"),
      { model: "toy", revision: "step5", model_path: join(dir, "gone"), data: join(dir, "none") },
      0,
      64,
      mem,
    );
    const { report: toy } = await computeReport({ results: [join(dir, "toy")] });
    assertEquals(toy.sources.find((s) => s.revision === "step10")!.tokens_seen, 10 * 4 * 8);
    assertMatch(
      toy.notes.join(" | "),
      /rows per step unknown for toy \(no --meta rows_per_step, and no suite\.json or engram\.json/,
    );
    assertMatch(
      toy.notes.join(" | "),
      /memorized rows not decoded: no tokenizer\.json in or above .*toy\/step10 and the data .*none is not there/,
    );
  });
});

Deno.test("report: the samples and text features come from the data the results were scored on (its fingerprint)", async () => {
  await withTempDir(async (dir) => {
    const { sampledFingerprint } = await import("../io/files.ts");
    const data = join(dir, "rows"), copy = join(dir, "copy"), other = join(dir, "other");
    const rows = tokenRows(64);
    await writeMegatron(data, rows);
    await writeMegatron(copy, rows);
    await writeMegatron(other, rows.map((r) => r.map((t) => (t + 1) % 2048)));
    const fingerprint = await sampledFingerprint([`${data}.idx`, `${data}.bin`]);
    const model_path = join(Deno.cwd(), "fixtures/pico/models/pico-1/step1092");
    for (const revision of ["step546", "step1092"]) {
      await writeScored(
        join(dir, "scores", `pico-1@${revision}.parquet`),
        { model: "pico-1", revision, model_path, data, data_fingerprint: fingerprint },
        0,
        64,
        (i) => i % 5 === 0,
      );
    }
    const results = [join(dir, "scores")];
    const decoded = async (options: { data?: string; tokenizer?: string }) => {
      const { report } = await computeReport({ results, samples: 1, ...options });
      return { index: report.samples?.map((s) => s.index), text: report.text_features?.rows, report };
    };
    assertEquals((await decoded({})).index, [0]);
    // A copy elsewhere is the same data; other rows are refused, not described as the scored ones.
    const tokenizer = "fixtures/pico/tokenizer";
    assertEquals((await decoded({ data: copy, tokenizer })).index, [0]);
    await assertRejects(
      () => decoded({ data: other, tokenizer }),
      EngramError,
      `--data ${other} is not the data pico-1@step1092 was scored on (${data}: the sampled fingerprints`,
    );
    // The data rewritten at the provenance's path: neither samples nor text features, and the notes say why.
    await writeMegatron(data, rows.map((r) => r.map((t) => (t + 1) % 2048)));
    const { index, text, report } = await decoded({});
    assertEquals([index, text], [undefined, undefined]);
    const notes = report.notes.join(" | ");
    assertMatch(
      notes,
      /memorized rows not decoded: the data .*rows changed since pico-1@step1092 was scored/,
    );
    assertMatch(notes, /properties of the text not computed: the training data .*rows changed since/);
  });
});

Deno.test("report on scored .jsonl texts (any case of the extension): memorized rows decoded, text features computed", async () => {
  await withTempDir(async (dir) => {
    const tokenizer = join(Deno.cwd(), "fixtures/pico/tokenizer/tokenizer.json");
    const lines = Array.from(
      { length: 40 },
      (_, i) => JSON.stringify({ text: `Row ${i}: the quick brown fox jumps over the lazy dog. `.repeat(6) }),
    );
    for (const name of ["texts.jsonl", "texts.JSONL"]) {
      const data = join(dir, name);
      await Deno.writeTextFile(data, lines.join("\n") + "\n");
      for (const revision of ["step546", "step1092"]) {
        await writeScored(
          join(dir, `${name}-scores`, `pico-1@${revision}.parquet`),
          { model: "pico-1", revision, model_path: join(dir, "gone"), data, tokenizer },
          0,
          40,
          (i) => i % 4 === 0,
        );
      }
      const { report } = await computeReport({ results: [join(dir, `${name}-scores`)], samples: 2 });
      assertEquals(report.samples?.length, 2, name);
      for (const { index, prompt } of report.samples!) {
        assertEquals(index % 4, 0, `${name}: row ${index} is memorized`);
        assertMatch(prompt, new RegExp(`^Row ${index}: the quick`), `${name}: row ${index}'s own text`);
      }
      assertEquals(report.text_features?.rows, 40, name);
    }
  });
});

Deno.test("report on some shards of a job says which rows of the job it lacks; all of them, nothing", async () => {
  await withTempDir(async (dir) => {
    const mem = (i: number) => i % 6 === 0;
    const shard = async (model: string, i: number) => {
      const [first, rows] = [i * 100, 100];
      await writeScored(
        join(dir, "scores", `${model}@step10.shard-${i}-of-3.parquet`),
        { model, revision: "step10", start: 0, count: 300, rows, shard: `${i}/3` },
        first,
        rows,
        mem,
      );
    };
    for (const model of ["m-1", "m-2"]) for (const i of [0, 2]) await shard(model, i);
    const results = [join(dir, "scores")];
    const { report } = await computeReport({ results, textFeatures: false });
    assertEquals(report.rows.analysed, 200);
    for (const model of ["m-1", "m-2"]) {
      assert(
        report.notes.includes(
          `${model}@step10: its results hold 200 of the 300 rows of the job they were scored in (rows [0, 300), ` +
            `in shards); the rows of the shards not given are not analysed (./engram merge checks that every ` +
            `shard is there)`,
        ),
        report.notes.join(" | "),
      );
    }
    for (const model of ["m-1", "m-2"]) await shard(model, 1);
    const { report: whole } = await computeReport({ results, textFeatures: false });
    assertEquals(whole.rows.analysed, 300);
    assert(!whole.notes.some((n) => /rows of the job/.test(n)), whole.notes.join(" | "));
  });
});

Deno.test("report: results folders are walked through symbolic links, each folder and file once (a link back up, a 'latest')", async () => {
  await withTempDir(async (dir) => {
    const runs = join(dir, "out", "runs");
    for (const model of ["m-1", "m-2"]) {
      await writeScored(
        join(runs, `${model}@step10.parquet`),
        { model, revision: "step10" },
        0,
        40,
        (i) => i % 5 === 0,
      );
    }
    await Deno.symlink(runs, join(dir, "out", "latest"));
    await Deno.symlink("..", join(runs, "up")); // loops back to out/
    const { report } = await computeReport({ results: [join(dir, "out")], textFeatures: false });
    assertEquals(report.inputs.map((i) => i.file), [
      join(dir, "out", "latest", "m-1@step10.parquet"),
      join(dir, "out", "latest", "m-2@step10.parquet"),
    ]);
    assertEquals(report.rows.analysed, 40);
  });
});

Deno.test("report text agrees with its tables: no 'no known compute fraction' when a predictor has one but recalls nothing", async () => {
  await withTempDir(async (dir) => {
    const rows = Array.from({ length: 64 }, (_, i) => i);
    const path = join(dir, "two.csv");
    await Deno.writeTextFile(
      path,
      CSV_HEADER + csvRows("m-1@step10", rows, (i) => (i === 1 ? 1 : 0)) +
        csvRows("m-2@step10", rows, (i) => (i === 2 || i === 3 ? 1 : 0.5)),
    );
    const meta = join(dir, "meta.csv");
    await Deno.writeTextFile(meta, "model,params\nm-1,100\nm-2,400\n");
    const { report } = await computeReport({ results: [path], meta });
    const f = forecastOf(report, "m-1@step10");
    assertEquals([f.family, f.compute_fraction, f.recall], ["smaller model", 0.25, 0]);
    const text = report.recommendation.text.join(" ");
    assert(!/No predictor/.test(text), text);
    assertMatch(
      text,
      /none of the predictors with a known compute fraction recalls any of them: m-1@step10 \(25\.0% of the compute\)/,
    );
    // m-2 scores every row but two at 0.5: its scores vary, m-1's memorized set is one row; a constant
    // indicator gets "–" in report.md with the reason.
    await Deno.writeTextFile(
      path,
      CSV_HEADER + csvRows("m-1@step10", rows, () => 0) +
        csvRows("m-2@step10", rows, (i) => (i === 2 ? 1 : 0.5)),
    );
    await withTempDir(async (out) => {
      await writeReport(out, { results: [path], meta });
      const md = await Deno.readTextFile(join(out, "report.md"));
      assertMatch(md, /\| m-1 \| – \| – \|/);
      assertMatch(md, /– : r is undefined where a model memorized none of the analysed rows/);
    });
  });
});

// --- the report's readers (analysis/load.ts over io/): planted rows in every layout they meet ---

/** Every row an input gives, copied as read (batches are overwritten by the next): source → index →
 *  [matches, first_mismatch] (NOT_SCORED: no score, as the column store keeps it). */
async function readAll(
  path: string,
  csv: { chunkBytes?: number; batchRows?: number } = {},
): Promise<Map<string, Map<number, [matches: number, first: number]>>> {
  const { openInput } = await import("../analysis/load.ts");
  const { NOT_SCORED } = await import("../analysis/columns.ts");
  const out = new Map<string, Map<number, [number, number]>>();
  for await (const b of (await openInput(path, csv)).batches()) {
    const source = `${b.model}@${b.revision}`;
    if (!out.has(source)) out.set(source, new Map());
    const rows = out.get(source)!;
    for (let i = 0; i < b.length; i++) {
      assert(!rows.has(b.index[i]), `${source} row ${b.index[i]} given twice`);
      rows.set(b.index[i], [b.matches ? b.matches[i] : NOT_SCORED, b.firstMismatch[i]]);
    }
  }
  return out;
}

Deno.test("report inputs: a reference CSV read in pieces that cut rows, sources in runs and interleaved, gives every row once", async () => {
  const { NOT_SCORED, FIRST_MISMATCH_UNKNOWN } = await import("../analysis/columns.ts");
  await withTempDir(async (dir) => {
    // a@s1 rows 0..59, then b and c interleaved row by row, then a again (rows 60..89): the same source in two
    // runs of one batch. Some rows give first_mismatch, some only a score, some only first_mismatch; an extra
    // quoted column holds commas.
    const lines = ["model,revision,index,note,score,first_mismatch"];
    const expected = new Map<string, Map<number, [number, number]>>();
    const add = (source: string, i: number, score: number | null, first: number | null) => {
      const [model, revision] = source.split("@");
      lines.push(`${model},${revision},${i},"x, ""${i}""",${score ?? ""},${first ?? ""}`);
      if (!expected.has(source)) expected.set(source, new Map());
      const m = score === null ? NOT_SCORED : score * 32;
      expected.get(source)!.set(i, [m, first ?? (m === 32 ? 32 : FIRST_MISMATCH_UNKNOWN)]);
    };
    const kind = (i: number) => i % 4; // 0: memorized, 1: score only, 2: score and first, 3: first only
    const row = (source: string, i: number) => {
      const k = kind(i);
      if (k === 0) add(source, i, 1, i % 8 === 0 ? 32 : null);
      else if (k === 1) add(source, i, (i % 31) / 32, null);
      else if (k === 2) add(source, i, ((i % 30) + 2) / 32, 1);
      else add(source, i, null, i % 32);
    };
    for (let i = 0; i < 60; i++) row("a@s1", i);
    for (let i = 0; i < 45; i++) {
      row("b@s1", 1000 + i);
      row("c@s2", 2 ** 40 + i);
    }
    for (let i = 60; i < 90; i++) row("a@s1", i);
    const path = join(dir, "ref.csv");
    await Deno.writeTextFile(path, lines.join("\r\n") + "\r\n");
    const want = Object.fromEntries(
      [...expected].map(([s, rows]) => [s, [...rows].sort((x, y) => x[0] - y[0])]),
    );
    for (const [chunkBytes, batchRows] of [[7, 5], [64, 37], [1 << 20, 1 << 20], [29, 1]]) {
      const got = await readAll(path, { chunkBytes, batchRows });
      assertEquals(
        Object.fromEntries([...got].map(([s, rows]) => [s, [...rows].sort((x, y) => x[0] - y[0])])),
        want,
        `chunks of ${chunkBytes} bytes, batches of ${batchRows} rows`,
      );
    }
    // What io cannot know is refused here, naming file, row (data row, 1-based), source and value.
    const bad = join(dir, "bad.csv");
    const header = "model,revision,index,score,first_mismatch\n";
    const cases: [string, RegExp][] = [
      ["m,r,0,0.5,\nm,r,1,0.3,\n", /bad\.csv: row 2 \(m@r, index 1\) has score 0\.3, not k\/32/],
      ["m,r,0,1,5\n", /row 1 \(m@r, index 0\) has score 1 but first_mismatch 5/],
      ["m,r,0,0.5,32\n", /row 1 \(m@r, index 0\) has score 0\.5 but first_mismatch 32/],
      ["m,r,0,0.5,\nm,r,7,,\n", /row 2 \(m@r, index 7\) has neither score nor first_mismatch/],
      ["m,r,-1,0.5,\n", /bad\.csv:2: "index" is "-1", expected an integer in \[0, /],
      ["m,r,3,1.5,\n", /bad\.csv:2: "score" is "1\.5", expected a number in \[0, 1\]/],
      ["m,r,3,0.5,33\n", /bad\.csv:2: "first_mismatch" is "33"/],
      [",r,3,0.5,\n", /bad\.csv:2: no "model" value/],
      // "v2@step1" split at the last @ would be model m@v2, revision step1: another source's name.
      [
        "m,r,0,0.5,\nm,v2@step1,1,0.5,\n",
        /row 2 \(m@v2@step1, index 1\) has revision "v2@step1", which contains "@"/,
      ],
      ["m@v2,step1,0,0.5,\n", /row 1 \(m@v2@step1, index 0\) has model "m@v2", which contains "@"/],
    ];
    for (const [rows, message] of cases) {
      await Deno.writeTextFile(bad, header + rows);
      await expectError(() => readAll(bad), message);
    }
  });
});

/** A memorized-evals split (index, tokens) written by hyparquet-writer with the given layout. */
function evalsParquet(
  indices: bigint[],
  options: {
    encoding?: "PLAIN" | "DELTA_BINARY_PACKED" | "RLE_DICTIONARY";
    codec: "SNAPPY" | "UNCOMPRESSED";
  },
): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({
    codec: options.codec,
    rowGroupSize: 23,
    pageSize: 64, // several pages a row group
    columnData: [
      {
        name: "index",
        data: BigInt64Array.from(indices),
        type: "INT64",
        encoding: options.encoding,
        nullable: options.encoding !== "PLAIN", // OPTIONAL with definition levels, as pyarrow writes it
      },
      { name: "tokens", data: indices.map((x) => [Number(x % 50000n), 7, 11]) },
    ],
  }));
}

Deno.test("report inputs: memorized-evals Parquet in every encoding and codec read (index only) row group by row group", async () => {
  await withTempDir(async (dir) => {
    // Sorted rows with small gaps (deltas of a few bits) and unsorted rows past 2^32 (deltas past 32 bits:
    // those pages are decoded by the hyparquet fallback).
    const sorted = Array.from({ length: 100 }, (_, i) => BigInt(3 * i + (i % 5)));
    const scattered = Array.from({ length: 70 }, (_, i) => BigInt(((i * 7919) % 1000) + (i % 3) * 2 ** 33));
    for (const indices of [sorted, scattered]) {
      for (const encoding of ["PLAIN", "DELTA_BINARY_PACKED", "RLE_DICTIONARY", undefined] as const) {
        for (const codec of ["SNAPPY", "UNCOMPRESSED"] as const) {
          const path = join(dir, "deduped.160m.parquet");
          await Deno.writeFile(path, evalsParquet(indices, { encoding, codec }));
          const got = await readAll(path);
          assertEquals([...got.keys()], ["pythia-160m-deduped@step143000"], `${encoding} ${codec}`);
          const rows = got.get("pythia-160m-deduped@step143000")!;
          assertEquals([...rows.keys()], indices.map(Number), `${encoding} ${codec}`);
          assert([...rows.values()].every(([m, f]) => m === 255 && f === 32), "listed rows are memorized");
        }
      }
    }
    // The report over two splits: planted confusion counts.
    await Deno.writeFile(
      join(dir, "deduped.160m.parquet"),
      evalsParquet(sorted.slice(0, 40), { encoding: "DELTA_BINARY_PACKED", codec: "SNAPPY" }),
    );
    await Deno.writeFile(
      join(dir, "deduped.12b.parquet"),
      evalsParquet(sorted.slice(20), { encoding: "RLE_DICTIONARY", codec: "UNCOMPRESSED" }),
    );
    const { report } = await computeReport({ results: [dir], universe: 400 });
    const f = forecastOf(report, "pythia-160m-deduped@step143000");
    assertEquals([f.tp, f.fp, f.fn, f.tn], [20, 20, 60, 300]);
    // A listed index that is not a row number.
    await Deno.writeFile(
      join(dir, "deduped.12b.parquet"),
      new Uint8Array(parquetWriteBuffer({
        columnData: [{ name: "index", data: BigInt64Array.from([1n, -4n]), type: "INT64" }, {
          name: "tokens",
          data: [[1], [2]],
        }],
      })),
    );
    await expectError(
      () => computeReport({ results: [dir], universe: 400 }),
      /deduped\.12b\.parquet: row 2 lists index -4; indices are integers ≥ 0/,
    );
  });
});

Deno.test("report inputs: results of several row groups in all three formats give planted counts", async () => {
  await withTempDir(async (dir) => {
    const memorized = (set: Set<number>) => (i: number) => set.has(i - BASE);
    const big = range(0, 20), small = new Set([...range(0, 5), ...range(50, 55)]);
    for (const ext of [".parquet", ".csv", ".jsonl"]) {
      const sub = join(dir, ext.slice(1));
      await Deno.mkdir(sub);
      for (const [model, params, set] of [["toy-s", 1e6, small], ["toy-l", 4e6, big]] as const) {
        const p = provenance(model, "step100", params, "score");
        const index = Float64Array.from({ length: N }, (_, i) => BASE + i);
        await writeResults(
          join(sub, `${model}${ext}`),
          {
            index,
            matches: Int16Array.from(index, (i) => memorized(set)(i) ? 32 : i % 32),
            firstMismatch: Int16Array.from(index, (i) => memorized(set)(i) ? 32 : (i % 32) >> 1),
            logprob: null,
            continuation: 32,
          },
          p,
          { rowGroupRows: 7 },
        );
      }
      const { report } = await computeReport({ results: [sub] });
      const f = forecastOf(report, "toy-s@step100");
      assertEquals([f.tp, f.fp, f.fn, f.tn], [5, 5, 15, N - 25], ext);
      const hist = report.histograms.filter((h) => h.source === "toy-l@step100");
      assertEquals(
        hist.find((h) => h.k === 3)!.count,
        [...Array(N).keys()].filter((i) => !big.has(i) && (BASE + i) % 32 === 3).length,
        ext,
      );
    }
  });
});

Deno.test("results folders: hidden entries (macOS ._x.parquet, an interrupted write's .x.tmp-*) are not results", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "sub"));
    for (
      const name of [
        "a.parquet",
        "._a.parquet",
        ".a.parquet.tmp-12-1",
        "sub/b.csv",
        "sub/.c.jsonl",
        "notes.txt",
      ]
    ) {
      await Deno.writeTextFile(join(dir, name), "not read here");
    }
    assertEquals(await collectInputFiles([dir]), [join(dir, "a.parquet"), join(dir, "sub/b.csv")]);
    // A hidden file named on the command line is read: the user asked for it.
    assertEquals(await collectInputFiles([join(dir, "._a.parquet")]), [join(dir, "._a.parquet")]);
  });
});
