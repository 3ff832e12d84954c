// The report's inputs, read as batches of rows of one model@revision each (never a row as a JS object):
//   - the score command's results (.parquet, .csv, .jsonl with provenance; io/results.ts): one model@revision
//     per file, named by its provenance;
//   - reference CSVs with columns model,revision,index,score[,first_mismatch] (other columns ignored), any
//     number of model@revisions per file;
//   - EleutherAI's pythia-memorized-evals Parquet (index, tokens): only memorized rows are listed.
// Every batch is checked here: indices integers ≥ 0, first_mismatch and matches within 0..continuation, and a
// results file's rows against the range its provenance gives; errors name the file and the value.
import { type Provenance, readResults, RESULT_FORMATS } from "../io/results.ts";
import { EngramError, ensure } from "../engine/errors.ts";
import { basename, extname, join } from "../engine/path.ts";
import { FIRST_MISMATCH_UNKNOWN, NOT_SCORED, type RowBatch } from "./columns.ts";
import { PYTHIA_FINAL_STEP } from "./meta.ts";

export type InputKind = "results" | "reference" | "published";

/** A batch of rows of one model@revision. */
export interface SourceBatch extends RowBatch {
  model: string;
  revision: string;
  continuation: number;
}

/** One input file, opened: what it is, and its rows as batches. */
export interface InputReader {
  path: string;
  kind: InputKind;
  /** True for published memorized-evals: rows not listed are not memorized (given --universe). */
  listedOnly: boolean;
  provenance: Provenance | null;
  batches(): AsyncGenerator<SourceBatch>;
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

/** Refuses a batch with an index that is not a row number or a value outside 0..continuation. */
function checkBatch(path: string, b: SourceBatch): void {
  const c = b.continuation;
  for (let i = 0; i < b.length; i++) {
    const x = b.index[i], f = b.firstMismatch[i], m = b.matches ? b.matches[i] : 0;
    if (!(x >= 0 && x <= Number.MAX_SAFE_INTEGER && Math.floor(x) === x)) {
      throw new EngramError(
        `${path}: a row of ${b.model}@${b.revision} has index ${x}; indices are integers ≥ 0`,
      );
    }
    if (!(f >= 0 && f <= c) && f !== FIRST_MISMATCH_UNKNOWN || !(m >= 0 && m <= c) && m !== NOT_SCORED) {
      throw new EngramError(
        `${path}: row ${x} of ${b.model}@${b.revision} has first_mismatch ${f}${
          b.matches ? `, matches ${m}` : ""
        } outside 0..${c}`,
      );
    }
  }
}

/** The rows a results file must hold by its provenance: [start, end) of the job, or of its shard. */
export function provenanceRows(p: Provenance): [number, number] | null {
  if (!Number.isSafeInteger(p.start) || !Number.isSafeInteger(p.count)) return null;
  const shard = p.shard ? /^(\d+)\/(\d+)$/.exec(p.shard) : null;
  if (!shard) return [p.start, p.start + p.count];
  const [i, n] = [Number(shard[1]), Number(shard[2])];
  return [p.start + Math.floor(i * p.count / n), p.start + Math.floor((i + 1) * p.count / n)];
}

/** A file the score command wrote: one model@revision, named by its provenance. */
async function openScoreResults(path: string): Promise<InputReader> {
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
  const n = t.index.length;
  const range = provenanceRows(provenance);
  if (range) {
    const [a, b] = range;
    for (let i = 0; i < n; i++) {
      const x = t.index[i];
      ensure(
        x >= a && x < b,
        () =>
          `${path}: row ${i} has index ${x}, outside the rows ${a}..${b - 1} its provenance gives; ` +
          `the file was edited or mixed up: rescore it`,
      );
    }
    ensure(
      n === b - a,
      () =>
        `${path}: holds ${n} rows but its provenance says rows ${a}..${b - 1} (${b - a}); ` +
        `the file is truncated or has duplicates: rescore or merge it again`,
    );
  }
  return {
    path,
    kind: "results",
    listedOnly: false,
    provenance,
    async *batches() {
      yield {
        model: provenance.model,
        revision: provenance.revision,
        continuation: t.continuation,
        length: n,
        index: t.index,
        matches: t.matches,
        firstMismatch: t.firstMismatch,
        logprob: t.logprob,
      };
    },
  };
}

/** Reference CSV rows per batch (a batch per model@revision within each chunk of lines). */
const CSV_CHUNK_LINES = 1 << 16;

/** A CSV with columns model,revision,index,score[,first_mismatch]: the layout of shared/pico/reference. */
async function openReferenceCsv(path: string): Promise<InputReader> {
  const text = await Deno.readTextFile(path);
  const lines = text.split(/\r?\n/);
  const names = lines[0].split(",").map((s) => s.trim());
  const col = (name: string) => names.indexOf(name);
  const [iModel, iRevision, iIndex, iScore, iFirst] = [
    "model",
    "revision",
    "index",
    "score",
    "first_mismatch",
  ]
    .map(col);
  ensure(
    iIndex >= 0 && (iScore >= 0 || iFirst >= 0),
    () =>
      `${path}: a model,revision CSV needs columns index and score (or first_mismatch); has ${
        names.join(",")
      }`,
  );
  const c = 32;
  const number = (cell: string | undefined) => {
    const s = cell?.trim() ?? "";
    return s === "" || s === "null" || s === "NA" || s === "NaN" ? NaN : Number(s);
  };
  return {
    path,
    kind: "reference",
    listedOnly: false,
    provenance: null,
    async *batches() {
      for (let start = 1; start < lines.length; start += CSV_CHUNK_LINES) {
        const bySource = new Map<string, { model: string; revision: string; rows: number[][] }>();
        for (let l = start; l < Math.min(lines.length, start + CSV_CHUNK_LINES); l++) {
          if (lines[l] === "") continue;
          const cells = lines[l].split(",");
          const model = cells[iModel].trim(), revision = cells[iRevision].trim();
          const index = number(cells[iIndex]);
          const score = iScore >= 0 ? number(cells[iScore]) : NaN;
          const first = iFirst >= 0 ? number(cells[iFirst]) : NaN;
          ensure(
            Number.isFinite(score) || Number.isFinite(first),
            () =>
              `${path}:${l + 1}: row ${
                cells[iIndex]
              } of ${model}@${revision} has neither score nor first_mismatch`,
          );
          let matches = NOT_SCORED;
          if (Number.isFinite(score)) {
            matches = score * c;
            ensure(
              score >= 0 && score <= 1 && Number.isInteger(matches),
              () => `${path}:${l + 1}: score ${cells[iScore]} is not k/${c} for k in 0..${c}`,
            );
          }
          const firstMismatch = Number.isFinite(first) ? first : matches === c ? c : FIRST_MISMATCH_UNKNOWN;
          const key = `${model}@${revision}`;
          let s = bySource.get(key);
          if (!s) bySource.set(key, s = { model, revision, rows: [[], [], []] });
          s.rows[0].push(index);
          s.rows[1].push(matches);
          s.rows[2].push(firstMismatch);
        }
        for (const { model, revision, rows: [index, matches, firstMismatch] } of bySource.values()) {
          const scored = matches.some((m) => m !== NOT_SCORED);
          yield {
            model,
            revision,
            continuation: c,
            length: index.length,
            index: Float64Array.from(index),
            matches: scored ? Uint8Array.from(matches) : null,
            firstMismatch: Uint8Array.from(firstMismatch),
            logprob: null,
          };
        }
      }
    },
  };
}

/** A memorized-evals split: its `index` column lists the memorized rows (all 32 tokens right), read row group
 *  by row group and nothing else (the tokens column is most of the file). */
async function openPublished(
  path: string,
  file: Awaited<ReturnType<typeof openParquet>>,
): Promise<InputReader> {
  const split = publishedSplit(path);
  ensure(
    split,
    () =>
      `${path}: a memorized-evals file (index, tokens) but its name has no split like duped.1.4b or ` +
      `deduped.12b.23000; rename it after its split`,
  );
  const { parquetRead } = await import("hyparquet");
  return {
    path,
    kind: "published",
    listedOnly: true,
    provenance: null,
    async *batches() {
      let rowStart = 0;
      for (const group of file.metadata.row_groups) {
        const rows = Number(group.num_rows);
        const index = new Float64Array(rows);
        await parquetRead({
          file: file.buffer,
          metadata: file.metadata,
          columns: ["index"],
          rowStart,
          rowEnd: rowStart + rows,
          onChunk: ({ columnName, columnData, rowStart: at }) => {
            if (columnName !== "index") return;
            for (let i = 0; i < columnData.length; i++) index[at - rowStart + i] = Number(columnData[i]);
          },
        });
        rowStart += rows;
        yield {
          ...split,
          continuation: 32,
          length: rows,
          index,
          matches: null,
          firstMismatch: new Uint8Array(rows).fill(32),
          logprob: null,
        };
      }
    },
  };
}

async function openParquet(path: string) {
  const { asyncBufferFromFile, parquetMetadataAsync, parquetSchema } = await import("hyparquet");
  try {
    const buffer = await asyncBufferFromFile(path);
    const metadata = await parquetMetadataAsync(buffer);
    const names = parquetSchema(metadata).children.map((c) => c.element.name);
    return { buffer, metadata, names };
  } catch (e) {
    throw new EngramError(`${path}: not a readable Parquet file (${(e as Error).message})`);
  }
}

/** Opens one input file, telling its kind from its extension and columns; its batches are checked. */
export async function openInput(path: string): Promise<InputReader> {
  const reader = await openKind(path);
  return {
    ...reader,
    async *batches() {
      for await (const b of reader.batches()) {
        checkBatch(path, b);
        yield b;
      }
    },
  };
}

async function openKind(path: string): Promise<InputReader> {
  const ext = extname(path).toLowerCase();
  if (ext === ".parquet") {
    const file = await openParquet(path);
    const names = file.names;
    if (names.includes("index") && !names.includes("first_mismatch") && !names.includes("score")) {
      return openPublished(path, file);
    }
    return openScoreResults(path);
  }
  if (ext === ".csv") {
    const head = await readHead(path);
    const header = head.split(/\r?\n/, 1)[0].split(",").map((s) => s.trim());
    if (header.includes("model") && header.includes("revision")) return openReferenceCsv(path);
  }
  return openScoreResults(path);
}

/** The first KiB of a file, as text (enough for a CSV header). */
async function readHead(path: string): Promise<string> {
  try {
    using file = await Deno.open(path);
    const bytes = new Uint8Array(1024);
    const n = await file.read(bytes) ?? 0;
    return new TextDecoder().decode(bytes.subarray(0, n));
  } catch (e) {
    throw new EngramError(`cannot read ${path}: ${(e as Error).message}`);
  }
}
