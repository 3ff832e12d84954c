// The report's one long table, model × revision × index, and the accounting of which rows it holds.
// All sources must cover the same rows (or --intersect restricts them to the rows all of them scored), and,
// as in the paper, only rows that every checkpoint has already trained on are analysed.
import { EngramError, ensure } from "../engine/errors.ts";
import type { LoadedFile } from "./load.ts";
import { type ModelMeta, resolveFacts, type SourceFacts } from "./meta.ts";
import { aq, op, type Params, type Row, type Table } from "./table.ts";

/** One model@revision of the inputs. */
export interface Source extends SourceFacts {
  source: string;
  model: string;
  revision: string;
  files: string[];
  /** Published memorized-evals: only memorized rows were listed. */
  listedOnly: boolean;
  /** Has per-row scores (not only a memorized flag). */
  scored: boolean;
  continuation: number;
  rowsLoaded: number;
  /** Rows that other sources scored but this one did not (dense sources only). */
  missing: number;
  missingSample: number[];
  /** Rows loaded but left out: not scored by all sources, not yet trained on by every checkpoint, or ≥ --universe. */
  excluded: number;
}

export interface RowAccounting {
  /** Rows analysed: every number of the report is over these. */
  analysed: number;
  /** Distinct rows scored by any (dense) source. */
  union: number;
  /** Rows scored by every (dense) source. */
  common: number;
  /** Rows seen by the earliest checkpoint (step × rows per step), when known. */
  seen_limit: number | null;
  universe: number | null;
}

export interface Dataset {
  /** source, model, revision, index, score (null if unknown), memorized (0/1), continuation: analysed rows only
   *  (for memorized-evals inputs, only rows some source memorized; the others count as not memorized). */
  scores: Table;
  sources: Source[];
  rows: RowAccounting;
  notes: string[];
}

export interface DatasetOptions {
  universe?: number;
  intersect?: boolean;
  meta?: Map<string, ModelMeta>;
  modelsDir?: string;
}

const name = (model: string, revision: string) => `${model}@${revision}`;

/** The model@revision names a loaded table holds. */
export const sourcesIn = (table: Table) =>
  table.derive({ s: (d: Row) => d.model + "@" + d.revision }).dedupe("s").array("s") as string[];

function checkConflicts(all: Table): void {
  const dupes = all.groupby("source", "index").filter(() => op.count() > 1);
  if (dupes.numRows() === 0) return;
  const conflicts = dupes
    .groupby("source", "index")
    .rollup({
      s_min: op.min("score"),
      s_max: op.max("score"),
      f_min: op.min("first_mismatch"),
      f_max: op.max("first_mismatch"),
      m: op.distinct("memorized"),
    })
    .filter((d: Row) => d.s_min !== d.s_max || d.f_min !== d.f_max || d.m > 1);
  if (conflicts.numRows() === 0) return;
  const { source, index } = conflicts.object(0) as Row;
  const rows = dupes.params({ source, index }).filter((d: Row, $: Params) =>
    d.source === $.source && d.index === $.index
  )
    .objects() as Row[];
  const shown = rows.map((r) =>
    `score ${r.score ?? "-"}, first_mismatch ${r.first_mismatch ?? "-"} in ${r.file}`
  );
  throw new EngramError(
    `${source} row ${index} has conflicting results (${shown.join("; ")}) and ${conflicts.numRows()} rows ` +
      `conflict in all; drop the stale file or rescore`,
  );
}

function orderSources(sources: Source[]): Source[] {
  return sources.sort((a, b) =>
    (a.params ?? -1) - (b.params ?? -1) || a.model.localeCompare(b.model, "en", { numeric: true }) ||
    (a.step ?? Infinity) - (b.step ?? Infinity) ||
    a.revision.localeCompare(b.revision, "en", { numeric: true })
  );
}

/** Joins the loaded files into the long table, checking duplicates and row sets. */
export async function buildDataset(files: LoadedFile[], options: DatasetOptions = {}): Promise<Dataset> {
  ensure(files.length > 0, "report: no results given; pass --results FILE_OR_DIR");
  const notes = new Set<string>();
  const all = files.map((f) => f.table).reduce((a, b) => a.concat(b))
    .derive({ source: (d: Row) => d.model + "@" + d.revision });
  ensure(
    all.numRows() > 0,
    () => `the results hold no rows (${files.map((f) => f.path).join(", ")}); score some rows first`,
  );
  checkConflicts(all);
  const rows = all.dedupe("source", "index");

  const listed = new Map<string, boolean>();
  for (const f of files) {
    for (const s of sourcesIn(f.table)) {
      ensure(
        !listed.has(s) || listed.get(s) === f.listedOnly,
        () => `${s} comes both as scored results and as a memorized-evals list; pass only one of them`,
      );
      listed.set(s, f.listedOnly);
    }
  }
  const anyListed = [...listed.values()].some((x) => x);
  const universe = options.universe ?? null;
  ensure(
    !anyListed || universe !== null,
    "memorized-evals files list only memorized rows; pass --universe N, the number of training rows they were drawn from",
  );
  const perSource = rows.groupby("source").rollup({
    model: op.any("model"),
    revision: op.any("revision"),
    rowsLoaded: op.count(),
    scored: op.valid("score"),
    continuation: op.max("continuation"),
  }).objects() as Row[];
  const filesOf = new Map(
    (all.groupby("source").rollup({ files: op.array_agg_distinct("file") }).objects() as Row[])
      .map((r) => [r.source as string, r.files as string[]]),
  );
  const provenanceParams = new Map<string, number>();
  for (const f of files) {
    if (f.provenance) {
      provenanceParams.set(name(f.provenance.model, f.provenance.revision), f.provenance.params);
    }
  }
  const sources: Source[] = [];
  for (const s of perSource) {
    const facts = await resolveFacts(
      s.model,
      s.revision,
      {
        meta: options.meta ?? new Map(),
        provenanceParams: provenanceParams.get(s.source),
        modelsDir: options.modelsDir,
      },
      notes,
    );
    sources.push({
      ...facts,
      source: s.source,
      model: s.model,
      revision: s.revision,
      files: filesOf.get(s.source) ?? [],
      listedOnly: listed.get(s.source) === true,
      scored: s.scored > 0 && listed.get(s.source) !== true,
      continuation: s.continuation,
      rowsLoaded: s.rowsLoaded,
      missing: 0,
      missingSample: [],
      excluded: 0,
    });
  }
  orderSources(sources);

  // Rows every checkpoint has trained on: the paper compares checkpoints only on rows the earliest one has seen.
  const limits = sources.map((s) =>
    s.step !== null && s.rowsPerStep !== null ? s.step * s.rowsPerStep : null
  );
  const seenLimit = limits.every((l) => l !== null) ? Math.min(...(limits as number[])) : null;
  if (seenLimit === null) {
    notes.add(
      "rows per step unknown for some models (pass --meta with rows_per_step), so rows are not restricted " +
        "to those every checkpoint has trained on",
    );
  }
  const limit = Math.min(seenLimit ?? Infinity, universe ?? Infinity);

  if (universe !== null) {
    const beyond = rows.params({ u: universe }).filter((d: Row, $: Params) => d.index >= $.u);
    const listedBeyond = beyond.params({ listed: [...listed].filter(([, l]) => l).map(([s]) => s) })
      .filter((d: Row, $: Params) => op.includes($.listed, d.source));
    ensure(
      listedBeyond.numRows() === 0,
      () =>
        `${listedBeyond.get("file", 0)} lists row ${
          listedBeyond.get("index", 0)
        } but --universe is ${universe}; ` +
        `pass the number of training rows`,
    );
    if (beyond.numRows() > 0) {
      notes.add(`${beyond.numRows()} scored rows are ≥ --universe ${universe} and left out`);
    }
  }

  const denseNames = sources.filter((s) => !s.listedOnly).map((s) => s.source);
  let analysed: number, union: number, common: number, scores: Table;
  const keep = ["source", "model", "revision", "index", "score", "memorized", "continuation"];
  if (denseNames.length > 0) {
    const dense = rows.params({ names: denseNames }).filter((d: Row, $: Params) =>
      op.includes($.names, d.source)
    );
    const counts = dense.groupby("index").count({ as: "n" });
    union = counts.numRows();
    const commonIndex = counts.params({ k: denseNames.length }).filter((d: Row, $: Params) => d.n === $.k)
      .select("index");
    common = commonIndex.numRows();
    if (common < union) {
      const have = dense.groupby("source").count({ as: "n" }).objects() as Row[];
      for (const h of have) {
        const s = sources.find((x) => x.source === h.source)!;
        s.missing = union - h.n;
        if (s.missing > 0) {
          s.missingSample = counts.params({ s: s.source }).antijoin(
            dense.params({ s: s.source }).filter((d: Row, $: Params) => d.source === $.s),
            "index",
          ).orderby("index").slice(0, 5).array("index") as number[];
        }
      }
      const worst = sources.filter((s) => !s.listedOnly).sort((a, b) => b.missing - a.missing)[0];
      ensure(
        options.intersect,
        () =>
          `the results cover different rows: ${worst.source} lacks ${worst.missing} of the ${union} rows the ` +
          `others scored (e.g. ${
            worst.missingSample.join(", ")
          }); score the missing rows, or pass --intersect ` +
          `to analyse only the ${common} rows all of them scored`,
      );
    }
    const analysedIndex = commonIndex.params({ limit }).filter((d: Row, $: Params) => d.index < $.limit);
    analysed = analysedIndex.numRows();
    ensure(
      analysed > 0,
      () =>
        `no rows left to analyse: ${common} rows are scored by all sources but none is below ${limit} ` +
        `(rows every checkpoint has trained on / --universe); check --meta rows_per_step and --universe`,
    );
    const denseRows = dense.semijoin(analysedIndex, "index");
    const listedNames = sources.filter((s) => s.listedOnly).map((s) => s.source);
    scores = denseRows.select(keep);
    if (listedNames.length > 0) {
      const grid = aq.table({ source: listedNames }).cross(analysedIndex);
      const listedRows = rows.params({ names: listedNames }).filter((d: Row, $: Params) =>
        op.includes($.names, d.source)
      )
        .select("source", "index", "memorized", "continuation");
      const expanded = grid.join_left(listedRows, [["source", "index"], ["source", "index"]])
        .derive({
          model: (d: Row) => op.slice(d.source, 0, op.indexof(d.source, "@")),
          revision: (d: Row) => op.slice(d.source, op.indexof(d.source, "@") + 1),
          score: () => null,
          memorized: (d: Row) => d.memorized === 1 ? 1 : 0,
          continuation: (d: Row) => d.continuation ?? 32,
        })
        .select(keep);
      scores = scores.concat(expanded);
    }
  } else {
    analysed = limit;
    union = common = universe!;
    scores = rows.params({ limit }).filter((d: Row, $: Params) => d.index < $.limit).derive({
      score: () => null,
    })
      .select(keep);
  }
  const analysedPerSource = new Map(
    (scores.groupby("source").count({ as: "n" }).objects() as Row[]).map((r) => [r.source, r.n]),
  );
  for (const s of sources) {
    s.excluded = s.listedOnly
      ? s.rowsLoaded -
        (scores.params({ s: s.source }).filter((d: Row, $: Params) => d.source === $.s && d.memorized === 1)
          .numRows())
      : s.rowsLoaded - (analysedPerSource.get(s.source) ?? 0);
  }
  if (seenLimit !== null && seenLimit < Math.min(union, universe ?? Infinity)) {
    notes.add(
      `only rows below ${seenLimit} are analysed: the earliest checkpoint has trained on ${seenLimit} rows ` +
        `(step × rows per step)`,
    );
  }
  return {
    scores: scores.orderby("source", "index"),
    sources,
    rows: { analysed, union, common, seen_limit: seenLimit, universe },
    notes: [...notes],
  };
}
