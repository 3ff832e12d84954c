// The report's rows: every input read once into compact columns per model@revision (analysis/columns.ts), then
// which rows are analysed. All sources must cover the same rows (or --intersect restricts them to the rows all
// of them scored), and, as in the paper, only rows that every checkpoint has already trained on are analysed.
// Steps, in order: readInputs → checkConflicts → describeSources → checkScoredAlike → analysedRows.
//
// For analyses built on top (ranked forecasts, features): every source's bitsets are over one row space, so
// position i is the same training row (dataset.space.index(i)) in all of them:
//   dataset.analysed                 the analysed rows (a bitset over the positions)
//   dataset.memorized.get(source)    the source's memorized rows among them (memorizedCount: how many)
//   await dataset.columns(source)    matches / first_mismatch (Uint8Array, NOT_SCORED where unknown) and
//                                    logprob (Float32Array, NaN) of the analysed rows only (row k: the k-th
//                                    analysed position); load one or two sources at a time
//   dataset.forEachPage(...)         a column of several sources a page at a time, each page read once
import { join } from "node:path";
import { EngramError, ensure } from "../base/errors.ts";
import { type Provenance, RECORDED_SINCE, SCORED_ALIKE } from "../io/results.ts";
import { and, type Bitset, count, countAnd, firstRowsNotIn, forEachRow, or } from "./bitset.ts";
import {
  type ColumnName,
  ColumnStore,
  FIRST_MISMATCH_UNKNOWN,
  NOT_SCORED,
  type RowSpace,
  type SourceColumns,
} from "./columns.ts";
import { choosePublishedLists, openInput } from "./load.ts";
import { folderMeta, type ModelMeta, resolveFacts, type SourceFacts } from "./meta.ts";

/** One model@revision of the inputs. */
export interface Source extends SourceFacts {
  /** Its name, model@revision. */
  source: string;
  /** The model's name. */
  model: string;
  /** The revision, e.g. "step143000". */
  revision: string;
  /** The input files that hold its rows. */
  files: string[];
  /** Published memorized-evals: only memorized rows were listed. */
  listedOnly: boolean;
  /** Has per-row scores (not only a memorized flag). */
  scored: boolean;
  /** Has per-row log-probabilities. */
  logprob: boolean;
  /** Tokens scored per row (32 in the paper). */
  continuation: number;
  /** The provenance of its results files (null for reference CSVs and memorized-evals). */
  provenance: Provenance | null;
  /** Rows its inputs hold. */
  rowsLoaded: number;
  /** Rows that other sources scored but this one did not (dense sources only). */
  missing: number;
  /** A few of the missing rows' indices, for messages. */
  missingSample: number[];
  /** Rows loaded but left out: not scored by all sources, not yet trained on by every checkpoint, or ≥ --universe. */
  excluded: number;
}

/** How the rows of the inputs were counted and which were analysed. */
export interface RowAccounting {
  /** Rows analysed: every number of the report is over these. */
  analysed: number;
  /** Distinct rows scored by any (dense) source. */
  union: number;
  /** Rows scored by every (dense) source. */
  common: number;
  /** Rows seen by the earliest checkpoint (step × rows per step), when known. */
  seen_limit: number | null;
  /** --universe: training rows the memorized-evals lists were drawn from; null when not given. */
  universe: number | null;
}

/** One input file as read. */
export interface InputSummary {
  /** Its path. */
  file: string;
  /** What it holds: "results", "reference" or "published" (InputKind). */
  kind: string;
  /** Rows it holds. */
  rows: number;
  /** The model@revisions it holds. */
  sources: string[];
}

/** The results loaded for a report: sources, the rows analysed, and each source's columns over them. */
export interface Dataset {
  /** Every model@revision, ordered by parameters, then model, then step. */
  sources: Source[];
  /** How the rows were counted and which were analysed. */
  rows: RowAccounting;
  /** What the reader should know about the inputs, one sentence each. */
  notes: string[];
  /** Every input file, as read. */
  inputs: InputSummary[];
  /** Positions of the row space ↔ training rows. */
  space: RowSpace;
  /** The analysed rows. */
  analysed: Bitset;
  /** Each source's memorized rows among the analysed ones (memorized-evals: the listed ones), and how many. */
  memorized: Map<string, Bitset>;
  /** Each source's count of memorized analysed rows. */
  memorizedCount: Map<string, number>;
  /** A source's `wanted` columns (default all) at the analysed rows, row k the k-th analysed position (dense
   *  sources; not cached: load what you need, then drop it). */
  columns(source: string, wanted?: readonly ColumnName[]): Promise<SourceColumns>;
  /** The `wanted` page arrays of several sources side by side, a page of the row space at a time (see
   *  ColumnStore.forEachPage): for statistics over many sources without a whole column of each. */
  forEachPage: ColumnStore["forEachPage"];
  /** Frees the spill file, if any. */
  close(): void;
}

/** How results are loaded into a Dataset. */
export interface DatasetOptions {
  /**
   * --universe: the training rows memorized-evals lists were drawn from (rows at or past it are left out).
   */
  universe?: number;
  /**
   * --intersect: analyse the rows every source scored, rather than refuse sources that cover different rows.
   */
  intersect?: boolean;
  /** Model facts (params, rows per step) given by --meta, by model name. */
  meta?: Map<string, ModelMeta>;
  /** Folder with <model>/<revision>/config.json (or <model>/config.json), read to count parameters. */
  modelsDir?: string;
  /** A checkpoint folder of each model by name (ReportOptions.modelDirs), read before modelsDir. */
  modelDirs?: ReadonlyMap<string, string>;
  /** Compare sources whose provenance says they were scored differently (a note says so). */
  allowMixed?: boolean;
  /** Where pages go when they pass memoryBudget bytes (default: the system's temporary folder, 4 GiB). */
  spillDir?: string;
  /** Bytes of pages kept in memory before they are spilled to spillDir (default 4 GiB). */
  memoryBudget?: number;
}

/**
 * The training row of each analysed position, ascending: analysed row k (the k-th set bit of dataset.analysed)
 * is row out[k] of the data. 4 bytes a row while the rows fit 32 bits (Pythia's 146M do), else 8.
 */
export function analysedIndices(dataset: Dataset): Uint32Array | Float64Array {
  const space = dataset.space, n = dataset.rows.analysed;
  const out = space.index(Math.max(0, space.positions - 1)) < 2 ** 32
    ? new Uint32Array(n)
    : new Float64Array(n);
  let k = 0;
  forEachRow(dataset.analysed, (i) => out[k++] = space.index(i));
  return out;
}

/** "model@revision": the model is everything before the last @ (model names may hold one). */
export const sourceName = (model: string, revision: string): string => `${model}@${revision}`;

/** A results file's provenance, with the file and the model@revision it holds. */
interface FileProvenance {
  source: string;
  file: string;
  provenance: Provenance;
}

/** Reads every input into the store, file after file; returns what each file held and every file's
 *  provenance (a model@revision may come in several files). */
async function readInputs(
  paths: string[],
  store: ColumnStore,
  universe: number | null,
): Promise<{ inputs: InputSummary[]; provenance: FileProvenance[] }> {
  const inputs: InputSummary[] = [], provenance: FileProvenance[] = [];
  const listed = new Map<string, boolean>();
  for (const path of paths) {
    const reader = await openInput(path);
    ensure(
      !reader.listedOnly || universe !== null,
      "memorized-evals files list only memorized rows; pass --universe N, the number of training rows they were drawn from",
    );
    let rows = 0;
    const sources = new Set<string>();
    for await (const b of reader.batches()) {
      const name = sourceName(b.model, b.revision);
      ensure(
        (listed.get(name) ?? reader.listedOnly) === reader.listedOnly,
        () => `${name} comes both as scored results and as a memorized-evals list; pass only one of them`,
      );
      listed.set(name, reader.listedOnly);
      const s = store.source(name, reader.listedOnly, b.continuation);
      ensure(
        s.continuation === b.continuation,
        () =>
          `${path}: ${name} has continuation ${b.continuation} here but ${s.continuation} in ${s.files[0]}`,
      );
      if (reader.listedOnly) {
        for (let i = 0; i < b.length; i++) {
          if (b.index[i] >= universe!) {
            throw new EngramError(
              `${path} lists row ${
                b.index[i]
              } but --universe is ${universe}; pass the number of training rows`,
            );
          }
        }
        s.addListed(b.index, b.length, path);
      } else await s.add(b, path, universe);
      rows += b.length;
      sources.add(name);
    }
    inputs.push({ file: path, kind: reader.kind, rows, sources: [...sources] });
    const p = reader.provenance;
    if (p) provenance.push({ source: sourceName(p.model, p.revision), file: path, provenance: p });
    await store.fileDone();
  }
  ensure(
    inputs.some((i) => i.rows > 0),
    () => `the results hold no rows (${paths.join(", ")}); score some rows first`,
  );
  return { inputs, provenance };
}

const shown = ([matches, first]: [number, number], continuation: number) =>
  `score ${matches === NOT_SCORED ? "-" : matches / continuation}, first_mismatch ${
    first === NOT_SCORED || first === FIRST_MISMATCH_UNKNOWN ? "-" : first
  }`;

/** Refuses the same row of a source with two different results, naming both files. */
async function checkConflicts(store: ColumnStore): Promise<void> {
  const bad = [...store.sources.values()].find((s) => s.conflicts > 0);
  if (!bad) return;
  const { index, stored, met, file } = bad.firstConflict!;
  let earlier = "an earlier row of the same file";
  for (const path of bad.files.filter((f) => f !== file)) {
    for await (const b of (await openInput(path)).batches()) {
      if (sourceName(b.model, b.revision) === bad.name && b.index.includes(index)) earlier = path;
    }
  }
  throw new EngramError(
    `${bad.name} row ${index} has conflicting results (${shown(stored, bad.continuation)} in ${earlier}; ` +
      `${shown(met, bad.continuation)} in ${file}) and ${bad.conflicts} rows conflict in all; ` +
      `drop the stale file or rescore`,
  );
}

function orderSources(sources: Source[]): Source[] {
  return sources.sort((a, b) =>
    (a.params ?? -1) - (b.params ?? -1) || a.model.localeCompare(b.model, "en", { numeric: true }) ||
    (a.step ?? Infinity) - (b.step ?? Infinity) ||
    a.revision.localeCompare(b.revision, "en", { numeric: true })
  );
}

/** What to say when a source's files are some shards of one job but not all: each file holds exactly its share (checked
 *  as read), so fewer rows than the job's are shards not given, and their rows are not analysed. */
function missingShardsNote(name: string, rows: number, provenance: FileProvenance[]): string | null {
  const files = provenance.filter((f) => f.source === name).map((f) => f.provenance);
  const job = files[0];
  if (!job || files.some((p) => p.start !== job.start || p.count !== job.count) || rows >= job.count) {
    return null;
  }
  return (`${name}: its results hold ${rows} of the ${job.count} rows of the job they were scored in (rows ` +
    `[${job.start}, ${
      job.start + job.count
    }), in shards); the rows of the shards not given are not analysed ` +
    `(./engram merge checks that every shard is there)`);
}

/** Every source with its facts (parameters, step, batch), smallest model first, then by step; and the notes of
 *  approximations and missing shards. */
async function describeSources(
  store: ColumnStore,
  provenance: FileProvenance[],
  options: DatasetOptions,
): Promise<{ sources: Source[]; notes: string[] }> {
  const sources: Source[] = [], notes: string[] = [];
  for (const s of store.sources.values()) {
    const cut = s.name.lastIndexOf("@");
    const model = s.name.slice(0, cut), revision = s.name.slice(cut + 1);
    const p = provenance.findLast((f) => f.source === s.name)?.provenance ?? null;
    // A source without provenance (a reference CSV) has its folder metadata looked up from --models.
    const modelDir = options.modelDirs?.get(model);
    const modelPath = p?.model_path ?? modelDir ??
      (options.modelsDir ? join(options.modelsDir, model, revision) : null);
    const folder = modelPath ? await folderMeta(modelPath, model) : {};
    const { facts, notes: factNotes } = await resolveFacts(
      model,
      revision,
      {
        meta: options.meta ?? new Map(),
        provenanceParams: p?.params,
        modelDir,
        modelsDir: options.modelsDir,
        folder,
      },
    );
    notes.push(...factNotes);
    const shards = missingShardsNote(s.name, s.rows, provenance);
    if (shards) notes.push(shards);
    sources.push({
      ...facts,
      source: s.name,
      model,
      revision,
      files: s.files,
      listedOnly: s.listed,
      scored: s.hasMatches && !s.listed,
      logprob: s.hasLogprob,
      continuation: s.continuation,
      provenance: p,
      rowsLoaded: s.rows + s.beyondUniverse,
      missing: 0,
      missingSample: [],
      excluded: 0,
    });
  }
  return { sources: orderSources(sources), notes };
}

/** Refuses results files scored differently (by their provenance), of different model@revisions or of one,
 *  unless allowMixed; then notes say how. */
function checkScoredAlike(files: FileProvenance[], allowMixed: boolean): string[] {
  const notes: string[] = [];
  for (const field of SCORED_ALIKE) {
    const recording = RECORDED_SINCE.has(field)
      ? files.filter((f) => f.provenance[field] !== undefined)
      : files;
    if (recording.length < 2) continue;
    const first = recording[0];
    const other = recording.find((f) => f.provenance[field] !== first.provenance[field]);
    if (!other) continue;
    // Two files of one model@revision are told apart by their names.
    const name = (f: FileProvenance) =>
      f.source === other.source && f.source === first.source ? `${f.source} (${f.file})` : f.source;
    const value = (f: FileProvenance) => JSON.stringify(f.provenance[field]) ?? "none";
    const what = `${name(first)} has ${field} ${value(first)} but ${name(other)} has ${value(other)}`;
    ensure(
      allowMixed,
      () =>
        `the results were scored differently: ${what}; score them alike, or pass --allow-mixed to compare anyway`,
    );
    notes.push(`sources scored differently are compared (--allow-mixed): ${what}`);
  }
  return notes;
}

/** Rows every checkpoint has trained on: the paper compares checkpoints only on rows the earliest one has seen. */
function seenLimitOf(sources: Source[]): { limit: number | null; note: string | null } {
  const limits = sources.map((s) =>
    s.step !== null && s.rowsPerStep !== null ? s.step * s.rowsPerStep : null
  );
  if (limits.every((l) => l !== null)) return { limit: Math.min(...(limits as number[])), note: null };
  const unknown = sources.filter((s) => s.rowsPerStep === null).map((s) => s.model);
  const note =
    `rows per step unknown for ${
      [...new Set(unknown)].join(", ")
    } (no --meta rows_per_step, and no suite.json ` +
    `or engram.json above the model in the results' provenance), so rows are not restricted to those ` +
    `every checkpoint has trained on`;
  return { limit: null, note };
}

/** Which rows are analysed, and how many of each source's rows are missing or left out. */
async function analysedRows(
  store: ColumnStore,
  sources: Source[],
  options: DatasetOptions,
): Promise<
  {
    notes: string[];
    analysed: Bitset;
    memorized: Map<string, Bitset>;
    memorizedCount: Map<string, number>;
    rows: RowAccounting;
  }
> {
  const universe = options.universe ?? null;
  const space = store.seal(universe);
  const notes: string[] = [];
  const { limit: seenLimit, note: seenNote } = seenLimitOf(sources);
  if (seenNote) notes.push(seenNote);
  const limit = Math.min(seenLimit ?? Infinity, universe ?? Infinity);
  const bits = new Map<string, { scored: Bitset; memorized: Bitset }>();
  for (const s of sources) bits.set(s.source, await store.bits(s.source, universe));

  const beyond = sources.reduce((n, s) => n + (store.sources.get(s.source)!.beyondUniverse), 0);
  if (beyond > 0) notes.push(`${beyond} scored rows are ≥ --universe ${universe} and left out`);

  const dense = sources.filter((s) => !s.listedOnly);
  let analysed: Bitset, union: number, common: number;
  if (dense.length > 0) {
    const scored = dense.map((s) => bits.get(s.source)!.scored);
    const any = scored.reduce(or), all = scored.reduce(and);
    union = count(any);
    common = count(all);
    if (common < union) {
      for (const s of dense) {
        const own = bits.get(s.source)!.scored;
        s.missing = union - count(own);
        s.missingSample = firstRowsNotIn(any, own, 5).map((i) => space.index(i));
      }
      const worst = [...dense].sort((a, b) => b.missing - a.missing)[0];
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
    analysed = and(all, space.below(limit));
  } else {
    union = common = universe!;
    analysed = space.below(limit);
  }
  const n = count(analysed);
  ensure(
    n > 0,
    () =>
      `no rows left to analyse: ${common} rows are scored by all sources but none is below ${limit} ` +
      `(rows every checkpoint has trained on / --universe); check --meta rows_per_step and --universe`,
  );
  const memorized = new Map<string, Bitset>(), memorizedCount = new Map<string, number>();
  for (const s of sources) {
    const own = bits.get(s.source)!, mine = and(own.memorized, analysed);
    memorized.set(s.source, mine);
    memorizedCount.set(s.source, count(mine));
    s.excluded = s.rowsLoaded -
      (s.listedOnly ? memorizedCount.get(s.source)! : countAnd(own.scored, analysed));
  }
  if (seenLimit !== null && seenLimit < Math.min(union, universe ?? Infinity)) {
    notes.push(
      `only rows below ${seenLimit} are analysed: the earliest checkpoint has trained on ${seenLimit} rows ` +
        `(step × rows per step)`,
    );
  }
  return {
    notes,
    analysed,
    memorized,
    memorizedCount,
    rows: { analysed: n, union, common, seen_limit: seenLimit, universe },
  };
}

/** Reads the input files and works out the rows to analyse (see the steps at the top of this file). */
export async function buildDataset(paths: string[], options: DatasetOptions = {}): Promise<Dataset> {
  ensure(paths.length > 0, "report: no results given; pass --results FILE_OR_DIR");
  const notes = new Set<string>();
  const store = new ColumnStore({ spillDir: options.spillDir, memoryBudget: options.memoryBudget });
  try {
    // One memorized-evals list per model@revision (the newer of deduped.1b and deduped.1b.new), said in a note.
    const lists = await choosePublishedLists(paths);
    if (lists.note) notes.add(lists.note);
    const { inputs, provenance } = await readInputs(lists.paths, store, options.universe ?? null);
    await checkConflicts(store);
    const { sources, notes: sourceNotes } = await describeSources(store, provenance, options);
    for (const note of sourceNotes) notes.add(note);
    for (const note of checkScoredAlike(provenance, options.allowMixed ?? false)) notes.add(note);
    const { analysed, memorized, memorizedCount, rows, notes: rowNotes } = await analysedRows(
      store,
      sources,
      options,
    );
    for (const note of rowNotes) notes.add(note);
    return {
      sources,
      rows,
      notes: [...notes],
      inputs,
      space: store.space!,
      analysed,
      memorized,
      memorizedCount,
      columns: (source, wanted) => store.columns(source, analysed, wanted),
      forEachPage: (names, wanted, fn) => store.forEachPage(names, wanted, fn),
      close: () => store.close(),
    };
  } catch (e) {
    store.close();
    throw e;
  }
}
