// Reading the report's inputs into Arquero tables with one layout:
// model, revision, index, score (null when unknown), first_mismatch (null when unknown), memorized (0/1), file.
//   - the score command's results (.parquet, .csv, .jsonl with provenance; io/results.ts);
//   - reference CSVs with columns model,revision,index,score[,first_mismatch] (other columns ignored);
//   - EleutherAI's pythia-memorized-evals Parquet (index, tokens): only memorized rows are listed.
import { parquetMetadata, parquetRead, parquetSchema } from "hyparquet";
import { type Provenance, readResults, RESULT_FORMATS } from "../io/results.ts";
import { EngramError, ensure } from "../engine/errors.ts";
import { basename, extname, join } from "../engine/path.ts";
import { PYTHIA_FINAL_STEP } from "./meta.ts";
import { aq, op, type Row, type Table } from "./table.ts";

export type InputKind = "results" | "reference" | "published";

/** One input file, read. */
export interface LoadedFile {
  path: string;
  kind: InputKind;
  /** model, revision, index, score, first_mismatch, memorized, continuation, file */
  table: Table;
  /** True for published memorized-evals: rows not listed are not memorized (given --universe). */
  listedOnly: boolean;
  provenance: Provenance | null;
}

const PUBLISHED_SPLIT =
  /(?:^|[^a-z])(deduped|duped)\.(\d+(?:\.\d+)?[mb])(?:\.(\d+))?(?=$|[^0-9a-z.]|\.parquet|-\d)/i;

/** "duped.1.4b" → pythia-1.4b@step143000; "deduped.12b.23000" → pythia-12b-deduped@step23000. */
export function publishedSplit(path: string): { model: string; revision: string } | null {
  for (const name of [basename(path), basename(join(path, ".."))]) {
    const m = PUBLISHED_SPLIT.exec(name);
    if (!m) continue;
    const [, dedup, size, step] = m;
    const model = `pythia-${size.toLowerCase()}${dedup.toLowerCase() === "deduped" ? "-deduped" : ""}`;
    return { model, revision: `step${step ?? PYTHIA_FINAL_STEP}` };
  }
  return null;
}

/** Every results file under the given files and folders (folders recursively), sorted, without duplicates. */
export async function collectInputFiles(paths: string[]): Promise<string[]> {
  ensure(
    paths.length > 0,
    "report: no results given; pass --results FILE_OR_DIR (the score command's output)",
  );
  const found = new Set<string>();
  const walk = async (path: string, top: boolean): Promise<void> => {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      throw new EngramError(`--results ${path}: not found; pass results files or folders that exist`);
    }
    if (info.isDirectory) {
      const entries = [];
      for await (const e of Deno.readDir(path)) entries.push(e.name);
      for (const name of entries.sort()) await walk(join(path, name), false);
    } else if ((RESULT_FORMATS as readonly string[]).includes(extname(path).toLowerCase())) {
      found.add(path);
    } else if (top) {
      throw new EngramError(`--results ${path}: not a .parquet, .csv or .jsonl file; pass score results`);
    }
  };
  for (const p of paths) await walk(p, true);
  const files = [...found].sort();
  ensure(files.length > 0, () => `no results files (.parquet, .csv, .jsonl) in ${paths.join(", ")}`);
  return files;
}

const readBuffer = async (path: string): Promise<ArrayBuffer> => {
  try {
    const bytes = await Deno.readFile(path);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  } catch (e) {
    throw new EngramError(`cannot read ${path}: ${(e as Error).message}`);
  }
};

/** A memorized-evals split: its `index` column lists the memorized rows (score 1, all 32 tokens right). */
async function loadPublished(path: string, file: ArrayBuffer): Promise<LoadedFile> {
  const split = publishedSplit(path);
  ensure(
    split,
    () =>
      `${path}: a memorized-evals file (index, tokens) but its name has no split like duped.1.4b or ` +
      `deduped.12b.23000; rename it after its split`,
  );
  const index: number[] = [];
  await parquetRead({
    file,
    columns: ["index"],
    onChunk: ({ columnName, columnData, rowStart }) => {
      if (columnName !== "index") return;
      for (let i = 0; i < columnData.length; i++) index[rowStart + i] = Number(columnData[i]);
    },
  });
  const n = index.length;
  const table = aq.table({
    model: new Array(n).fill(split.model),
    revision: new Array(n).fill(split.revision),
    index: Float64Array.from(index),
    score: new Float64Array(n).fill(1),
    first_mismatch: new Float64Array(n).fill(32),
    memorized: new Uint8Array(n).fill(1),
    continuation: new Float64Array(n).fill(32),
    file: new Array(n).fill(path),
  });
  return { path, kind: "published", table, listedOnly: true, provenance: null };
}

/** A file the score command wrote: one model@revision, named by its provenance. */
async function loadResults(path: string): Promise<LoadedFile> {
  const { table: t, provenance } = await readResults(path);
  ensure(
    provenance && provenance.model && provenance.revision,
    () =>
      `${path}: no provenance, so its model and revision are unknown; keep ${
        extname(path) === ".parquet"
          ? "the file's engram.provenance metadata"
          : `${basename(path)}.provenance.json`
      } beside it, or convert it to a CSV with columns model,revision,index,score`,
  );
  const n = t.index.length, c = t.continuation;
  const score = new Float64Array(n), memorized = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    score[i] = t.matches ? t.matches[i] / c : NaN;
    memorized[i] = t.firstMismatch[i] === c ? 1 : 0;
  }
  const table = aq.table({
    model: new Array(n).fill(provenance.model),
    revision: new Array(n).fill(provenance.revision),
    index: t.index,
    score: t.matches ? Array.from(score) : new Array(n).fill(null),
    first_mismatch: Float64Array.from(t.firstMismatch),
    memorized,
    continuation: new Float64Array(n).fill(c),
    file: new Array(n).fill(path),
  });
  return { path, kind: "results", table, listedOnly: false, provenance };
}

/** A CSV with columns model,revision,index,score[,first_mismatch]: the layout of shared/pico/reference. */
function loadReference(path: string, text: string): LoadedFile {
  const csv = aq.fromCSV(text, { parse: { model: String, revision: String } });
  const names = csv.columnNames();
  ensure(
    names.includes("index") && (names.includes("score") || names.includes("first_mismatch")),
    () =>
      `${path}: a model,revision CSV needs columns index and score (or first_mismatch); has ${
        names.join(",")
      }`,
  );
  const missing = ["score", "first_mismatch"].filter((c) => !names.includes(c));
  const table = csv
    .derive(Object.fromEntries(missing.map((c) => [c, () => null])))
    .derive({
      score: (d: Row) => op.is_finite(d.score) ? d.score : null,
      first_mismatch: (d: Row) => op.is_finite(d.first_mismatch) ? d.first_mismatch : null,
    })
    .derive({
      memorized: (d: Row) => d.score != null ? (d.score === 1 ? 1 : 0) : (d.first_mismatch === 32 ? 1 : 0),
      continuation: () => 32,
      file: aq.escape(() => path),
    })
    .select("model", "revision", "index", "score", "first_mismatch", "memorized", "continuation", "file");
  const bad = table.filter((d: Row) => !op.is_finite(d.index) || d.index < 0 || d.index % 1 !== 0);
  ensure(
    bad.numRows() === 0,
    () => `${path}: row with index "${bad.get("index", 0)}"; indices are integers ≥ 0`,
  );
  const unscored = table.filter((d: Row) => d.score == null && d.first_mismatch == null);
  ensure(
    unscored.numRows() === 0,
    () =>
      `${path}: ${unscored.numRows()} rows have neither score nor first_mismatch (first: index ${
        unscored.get("index", 0)
      })`,
  );
  return { path, kind: "reference", table, listedOnly: false, provenance: null };
}

/** Reads one input file, telling its kind from its extension and columns. */
export async function loadInputFile(path: string): Promise<LoadedFile> {
  const ext = extname(path).toLowerCase();
  if (ext === ".parquet") {
    const file = await readBuffer(path);
    let names: string[];
    try {
      names = parquetSchema(parquetMetadata(file)).children.map((c) => c.element.name);
    } catch (e) {
      throw new EngramError(`${path}: not a readable Parquet file (${(e as Error).message})`);
    }
    if (names.includes("index") && !names.includes("first_mismatch") && !names.includes("score")) {
      return loadPublished(path, file);
    }
    return loadResults(path);
  }
  if (ext === ".csv") {
    const text = await Deno.readTextFile(path);
    const header = text.split("\n", 1)[0].split(",").map((s) => s.trim());
    if (header.includes("model") && header.includes("revision")) return loadReference(path, text);
  }
  return loadResults(path);
}
