// The report's inputs, read through io/ as batches of rows of one model@revision each (never a row as a JS
// object):
//   - the score command's results (.parquet, .csv, .jsonl with provenance): `openResults`, one model@revision
//     per file, named by its provenance; io checks every row (indices, values, the provenance's rows and count,
//     the sidecar's length and CRC), so nothing is checked twice here;
//   - reference CSVs with columns model,revision,index,score[,first_mismatch] (other columns ignored), any
//     number of model@revisions per file: `openCsv`, model and revision as dictionary ids (no string per row);
//   - EleutherAI's pythia-memorized-evals Parquet (index, tokens): `ParquetFile`, the index column only (the
//     tokens are most of the file and are never read); only memorized rows are listed.
// What io cannot know is checked here: a reference score is k/32, a listed index is a row number, a reference
// model or revision has no "@".
import {
  openParquetResults,
  openResults,
  type Provenance,
  PROVENANCE_KEY,
  RESULT_FORMATS,
} from "../io/results.ts";
import { type CsvBatch, type CsvColumnSpec, type CsvReader, openCsv } from "../io/csv.ts";
import { ParquetFile } from "../io/parquet.ts";
import { EngramError, ensure } from "../base/errors.ts";
import { PAPER_CONTINUATION } from "../engine/paper.ts";
import { basename, extname, join } from "../base/path.ts";
import { FIRST_MISMATCH_UNKNOWN, NOT_SCORED, type RowBatch } from "./columns.ts";
import { PYTHIA_FINAL_STEP } from "./meta.ts";

/** What an input file is: engram results, a reference scores CSV, or a published memorized-evals list. */
export type InputKind = "results" | "reference" | "published";

/** A batch of rows of one model@revision. */
export interface SourceBatch extends RowBatch {
  /** The model's name. */
  model: string;
  /** The revision, e.g. "step143000". */
  revision: string;
  /** Tokens scored per row. */
  continuation: number;
}

/** One input file, opened: what it is, and its rows as batches. */
export interface InputReader {
  /** The file's path. */
  path: string;
  /** What the file is. */
  kind: InputKind;
  /** True for published memorized-evals: rows not listed are not memorized (given --universe). */
  listedOnly: boolean;
  /** Its results' provenance; null for reference CSVs and memorized-evals. */
  provenance: Provenance | null;
  /** The rows, a batch at a time; a batch's arrays are overwritten by the next one (store them before). */
  batches(): AsyncGenerator<SourceBatch>;
}

// EleutherAI/pythia-memorized-evals names a split <dedup>.<size>[.<step>][.new] (deduped.1b.new: a newer list of
// the same model added later), its files data/<split>-0000k-of-0000N-<hash>.parquet (or <split>/0000.parquet).
const PUBLISHED_SPLIT =
  /(?:^|[^a-z])((deduped|duped)\.(\d+(?:\.\d+)?[mb])(?:\.(\d+))?(\.new)?)(?=$|[^0-9a-z.]|\.parquet|-\d)/i;

/** A memorized-evals list as its path names it: the split, its model@revision, and whether it is a `.new` list. */
export interface PublishedList {
  /** The split's name, e.g. "deduped.1b.new". */
  split: string;
  /** The Pythia model it lists, e.g. "pythia-1b-deduped". */
  model: string;
  /** The revision it lists (its step, else Pythia's last: "step143000"). */
  revision: string;
  /** Whether it is a `.new` list (a newer list of the same model). */
  newer: boolean;
}

/** "deduped.1b.new-00000-of-00002-86e9….parquet" → deduped.1b.new, pythia-1b-deduped@step143000, newer. */
export function publishedList(path: string): PublishedList | null {
  for (const name of [basename(path), basename(join(path, ".."))]) {
    const m = PUBLISHED_SPLIT.exec(name);
    if (!m) continue;
    const [, split, dedup, size, step, newer] = m;
    const model = `pythia-${size.toLowerCase()}${dedup.toLowerCase() === "deduped" ? "-deduped" : ""}`;
    return {
      split: split.toLowerCase(),
      model,
      revision: `step${step ?? PYTHIA_FINAL_STEP}`,
      newer: !!newer,
    };
  }
  return null;
}

/** "duped.1.4b" → pythia-1.4b@step143000; "deduped.12b.23000" → pythia-12b-deduped@step23000. */
export function publishedSplit(path: string): { model: string; revision: string } | null {
  const list = publishedList(path);
  return list && { model: list.model, revision: list.revision };
}

/**
 * The memorized-evals lists among `paths` (files whose columns make them lists, as openInput tells), one list per
 * model@revision: where both a list and its `.new` list are there (deduped.1b, deduped.1b.new), the newer is
 * read and the older left out; two other lists of one model@revision are refused. Returns the paths to read and
 * a note saying which list each model@revision came from.
 */
export async function choosePublishedLists(
  paths: string[],
): Promise<{ paths: string[]; note: string | null }> {
  const bySource = new Map<string, Map<string, { list: PublishedList; files: string[] }>>();
  for (const path of paths) {
    const list = extname(path).toLowerCase() === ".parquet" ? publishedList(path) : null;
    if (!list || (await openInput(path)).kind !== "published") continue;
    const source = `${list.model}@${list.revision}`;
    const splits = bySource.get(source) ?? new Map();
    bySource.set(source, splits);
    const split = splits.get(list.split) ?? { list, files: [] };
    splits.set(list.split, split);
    split.files.push(path);
  }
  if (bySource.size === 0) return { paths, note: null };
  const left = new Set<string>(), used: string[] = [];
  for (const [source, splits] of bySource) {
    const all = [...splits.values()];
    const newest = all.filter((s) => s.list.newer);
    const chosen = all.length === 1 ? all[0] : newest.length === 1 && all.length === 2 &&
        all.some((s) => `${s.list.split}.new` === newest[0].list.split)
      ? newest[0]
      : null;
    ensure(
      chosen,
      () =>
        `${source} comes as the memorized-evals lists ${all.map((s) => s.list.split).join(" and ")} (${
          all.map((s) => s.files[0]).join(", ")
        }); pass the files of one of them`,
    );
    for (const s of all) if (s !== chosen) { for (const f of s.files) left.add(f); }
    const older = all.find((s) => s !== chosen);
    used.push(
      older
        ? `${source} from ${chosen.list.split} (the newer of ${older.list.split} and ${chosen.list.split}; ` +
          `pass ${older.list.split}'s files alone for the older list)`
        : `${source} from ${chosen.list.split}`,
    );
  }
  return {
    paths: paths.filter((p) => !left.has(p)),
    note: `EleutherAI's memorized-evals lists read: ${used.join("; ")}`,
  };
}

/** Every results file under the given files and folders (folders recursively, following symbolic links), sorted,
 *  each once however many paths lead to it (a link to a folder already walked, e.g. "latest" or one that loops
 *  back up, is not walked again). */
export async function collectInputFiles(paths: string[]): Promise<string[]> {
  ensure(
    paths.length > 0,
    "report: no results given; pass --results FILE_OR_DIR (the score command's output)",
  );
  const found = new Map<string, string>(), walked = new Set<string>();
  const walk = async (path: string, top: boolean): Promise<void> => {
    let info: Deno.FileInfo, real: string;
    try {
      info = await Deno.stat(path);
      real = await Deno.realPath(path);
    } catch {
      throw new EngramError(`--results ${path}: not found; pass results files or folders that exist`);
    }
    if (info.isDirectory) {
      if (walked.has(real)) return;
      walked.add(real);
      const entries = [];
      // Hidden entries are not results: macOS's ._x.parquet and .DS_Store, an interrupted write's .x.tmp-*.
      for await (const e of Deno.readDir(path)) if (!e.name.startsWith(".")) entries.push(e.name);
      for (const name of entries.sort()) await walk(join(path, name), false);
    } else if ((RESULT_FORMATS as readonly string[]).includes(extname(path).toLowerCase())) {
      if (!found.has(real)) found.set(real, path);
    } else if (top) {
      throw new EngramError(`--results ${path}: not a .parquet, .csv or .jsonl file; pass score results`);
    }
  };
  for (const p of paths) await walk(p, true);
  const files = [...found.values()].sort();
  ensure(files.length > 0, () => `no results files (.parquet, .csv, .jsonl) in ${paths.join(", ")}`);
  return files;
}

const noProvenance = (path: string) =>
  `${path}: no provenance, so its model and revision are unknown; keep ${
    extname(path) === ".parquet"
      ? `the file's ${PROVENANCE_KEY} metadata`
      : `${basename(path)}.provenance.json`
  } beside it, or convert it to a CSV with columns model,revision,index,score`;

/** A results file the score command wrote (any format): one model@revision, named by its provenance. */
async function openScoreResults(path: string, parquet?: ParquetFile): Promise<InputReader> {
  const results = await (parquet ? openParquetResults(parquet) : openResults(path));
  const p = results.provenance;
  ensure(p && p.model && p.revision, () => noProvenance(path));
  return {
    path,
    kind: "results",
    listedOnly: false,
    provenance: p,
    async *batches() {
      for await (const b of results.batches({ reuse: true })) {
        yield { ...b, model: p.model, revision: p.revision, continuation: results.continuation };
      }
    },
  };
}

/** Continuation of the reference CSVs (the paper's 32 tokens; their score is matches / 32). */
const REFERENCE_CONTINUATION = PAPER_CONTINUATION;

/** All optional: a CSV is opened with these before its header says whether it is a reference CSV (which
 *  openReferenceCsv then checks); only a reference CSV's rows are read through them. */
const REFERENCE_COLUMNS: Record<string, CsvColumnSpec> = {
  model: { type: "dictionary", optional: true },
  revision: { type: "dictionary", optional: true },
  index: { type: "number", optional: true, integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
  score: { type: "number", optional: true, nullable: true, min: 0, max: 1 },
  first_mismatch: {
    type: "number",
    optional: true,
    nullable: true,
    integer: true,
    min: 0,
    max: REFERENCE_CONTINUATION,
  },
};

/** A CSV with columns model,revision,index,score[,first_mismatch]: the layout of shared/pico/reference. Any
 *  number of model@revisions, in any order; each batch of the file is split into one batch per model@revision
 *  (views when each comes in one run, as files usually hold them). `csv`: opened with REFERENCE_COLUMNS. */
function openReferenceCsv(path: string, csv: CsvReader): InputReader {
  const header = csv.header;
  ensure(
    header.includes("index") && (header.includes("score") || header.includes("first_mismatch")),
    () =>
      `${path}: a model,revision CSV needs columns index and score (or first_mismatch); has ${
        header.join(",")
      }`,
  );
  return {
    path,
    kind: "reference",
    listedOnly: false,
    provenance: null,
    async *batches() {
      const bytes = { matches: new Uint8Array(0), firstMismatch: new Uint8Array(0) };
      for await (const b of csv.batches()) {
        if (bytes.matches.length < b.length) {
          bytes.matches = new Uint8Array(b.length);
          bytes.firstMismatch = new Uint8Array(b.length);
        }
        yield* splitBySource(path, b, csv.dictionary("model"), csv.dictionary("revision"), bytes);
      }
    },
  };
}

/** One model@revision's rows within a reference batch. */
interface Part {
  model: number;
  revision: number;
  rows: number;
  scored: boolean;
  /** Where its rows go when they are gathered. */
  at: number;
}

/** A reference batch as one batch per model@revision: matches from score (k/32), first_mismatch as given (or
 *  32 for a score of 1, else FIRST_MISMATCH_UNKNOWN), written into `bytes` (at least b.length each). */
function* splitBySource(
  path: string,
  b: CsvBatch,
  models: readonly string[],
  revisions: readonly string[],
  bytes: { matches: Uint8Array; firstMismatch: Uint8Array },
): Generator<SourceBatch> {
  const n = b.length, c = REFERENCE_CONTINUATION;
  const modelIds = b.ids("model")!, revisionIds = b.ids("revision")!, index = b.number("index")!;
  const score = b.number("score"), first = b.number("first_mismatch");
  const { matches, firstMismatch } = bytes;
  // Which part each run of rows belongs to: a run starts where model or revision changes.
  const parts: Part[] = [], byKey = new Map<number, Part>();
  const runStarts: number[] = [], runParts: Part[] = [];
  let part: Part | null = null;
  for (let i = 0; i < n; i++) {
    const mi = modelIds[i], ri = revisionIds[i];
    if (part === null || mi !== part.model || ri !== part.revision) {
      const key: number = mi * 2 ** 26 + ri;
      part = byKey.get(key) ?? null;
      if (!part) {
        // Sources are named model@revision (split at the last @, as results files are): an @ in either name
        // could make two sources one. Refused as score refuses it in checkpoint folders.
        for (const [what, name] of [["model", models[mi]], ["revision", revisions[ri]]]) {
          if (name.includes("@")) {
            badRow(
              path,
              b,
              i,
              models,
              revisions,
              `has ${what} "${name}", which contains "@": sources are named model@revision, so two could ` +
                `become one; rename it`,
            );
          }
        }
        part = { model: mi, revision: ri, rows: 0, scored: false, at: 0 };
        byKey.set(key, part);
        parts.push(part);
      }
      runStarts.push(i);
      runParts.push(part);
    }
    part.rows++;
    const s = score ? score[i] : NaN, f = first ? first[i] : NaN;
    let m = NOT_SCORED;
    if (s === s) {
      m = s * c;
      if (m !== Math.floor(m)) {
        badRow(path, b, i, models, revisions, `has score ${s}, not k/${c} for k in 0..${c}`);
      }
      part.scored = true;
    } else if (f !== f) badRow(path, b, i, models, revisions, "has neither score nor first_mismatch");
    if (f === f && m !== NOT_SCORED && (m === c) !== (f === c)) {
      badRow(
        path,
        b,
        i,
        models,
        revisions,
        `has score ${s} but first_mismatch ${f}: only all ${c} right has both`,
      );
    }
    matches[i] = m;
    firstMismatch[i] = f === f ? f : m === c ? c : FIRST_MISMATCH_UNKNOWN;
  }
  const batch = (p: Part, index: Float64Array, m: Uint8Array, f: Uint8Array): SourceBatch => ({
    model: models[p.model],
    revision: revisions[p.revision],
    continuation: c,
    length: p.rows,
    index,
    matches: p.scored ? m : null,
    firstMismatch: f,
    logprob: null,
  });
  if (runStarts.length === parts.length) { // each model@revision in one run: views, no copy
    for (let k = 0; k < runStarts.length; k++) {
      const s = runStarts[k], e = s + runParts[k].rows;
      yield batch(runParts[k], index.subarray(s, e), matches.subarray(s, e), firstMismatch.subarray(s, e));
    }
    return;
  }
  // Interleaved: gather each part's rows, run by run.
  const gathered = { index: new Float64Array(n), matches: new Uint8Array(n), first: new Uint8Array(n) };
  let at = 0;
  for (const p of parts) {
    p.at = at;
    at += p.rows;
  }
  const starts = parts.map((p) => p.at);
  for (let k = 0; k < runStarts.length; k++) {
    const s = runStarts[k], e = k + 1 < runStarts.length ? runStarts[k + 1] : n, p = runParts[k];
    gathered.index.set(index.subarray(s, e), p.at);
    gathered.matches.set(matches.subarray(s, e), p.at);
    gathered.first.set(firstMismatch.subarray(s, e), p.at);
    p.at += e - s;
  }
  for (let k = 0; k < parts.length; k++) {
    const s = starts[k], e = s + parts[k].rows;
    yield batch(
      parts[k],
      gathered.index.subarray(s, e),
      gathered.matches.subarray(s, e),
      gathered.first.subarray(s, e),
    );
  }
}

function badRow(
  path: string,
  b: CsvBatch,
  i: number,
  models: readonly string[],
  revisions: readonly string[],
  what: string,
): never {
  const source = `${models[b.ids("model")![i]]}@${revisions[b.ids("revision")![i]]}`;
  throw new EngramError(
    `${path}: row ${b.firstRow + i} (${source}, index ${b.number("index")![i]}) ${what}; fix or drop the row`,
  );
}

/** A memorized-evals split: its `index` column lists the memorized rows (all 32 tokens right), read row group
 *  by row group and nothing else. */
function openPublished(path: string, file: ParquetFile): InputReader {
  const split = publishedSplit(path);
  ensure(
    split,
    () =>
      `${path}: a memorized-evals file (index, tokens) but its name has no split like duped.1.4b or ` +
      `deduped.12b.23000; rename it after its split`,
  );
  return {
    path,
    kind: "published",
    listedOnly: true,
    provenance: null,
    async *batches() {
      let memorized = new Uint8Array(0);
      for await (const b of file.batches(["index"], { reuse: true })) {
        if (memorized.length < b.length) memorized = new Uint8Array(b.length).fill(REFERENCE_CONTINUATION);
        const index = b.columns.get("index")!;
        for (let i = 0; i < b.length; i++) {
          const x = index[i];
          if (!(x >= 0 && x <= Number.MAX_SAFE_INTEGER && Math.floor(x) === x)) {
            throw new EngramError(
              `${path}: row ${
                b.rowStart + i + 1
              } lists index ${x}; indices are integers ≥ 0 (a memorized-evals ` +
                `file lists training rows)`,
            );
          }
        }
        yield {
          ...split,
          continuation: REFERENCE_CONTINUATION,
          length: b.length,
          index,
          matches: null,
          firstMismatch: memorized.subarray(0, b.length),
          logprob: null,
        };
      }
    },
  };
}

/** Columns of results (besides index): a Parquet file with any of them is results, never a memorized-evals list
 *  (whose every row would count as memorized). */
const RESULTS_ONLY_COLUMNS = ["score", "matches", "first_mismatch", "memorized", "logprob"];

/** Opens one input file, telling its kind from its extension and columns. `csv`: how reference CSVs are read
 *  (bytes a read, rows a batch; tests read them in pieces that cut rows). */
export async function openInput(
  path: string,
  csv: { chunkBytes?: number; batchRows?: number } = {},
): Promise<InputReader> {
  const ext = extname(path).toLowerCase();
  if (ext === ".parquet") {
    const file = await ParquetFile.open(path);
    const names = file.columnNames;
    if (names.includes("index") && !names.some((name) => RESULTS_ONLY_COLUMNS.includes(name))) {
      return openPublished(path, file);
    }
    return await openScoreResults(path, file);
  } else if (ext === ".csv") {
    const file = await openCsv(path, REFERENCE_COLUMNS, { ...csv, reuse: true });
    if (file.has("model") && file.has("revision")) return openReferenceCsv(path, file);
  }
  return await openScoreResults(path);
}
