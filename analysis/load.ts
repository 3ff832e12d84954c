// The report's inputs, read as batches of rows of one model@revision each (never a row as a JS object):
//   - the score command's results (.parquet, .csv, .jsonl with provenance; io/results.ts): one model@revision
//     per file, named by its provenance;
//   - reference CSVs with columns model,revision,index,score[,first_mismatch] (other columns ignored), any
//     number of model@revisions per file;
//   - EleutherAI's pythia-memorized-evals Parquet (index, tokens): only memorized rows are listed.
// Every batch is checked here: indices integers ≥ 0, first_mismatch and matches within 0..continuation, and a
// results file's rows against the range its provenance gives; errors name the file and the value.
import {
  type Provenance,
  PROVENANCE_KEY,
  readResults,
  RESULT_FORMATS,
  shardOf,
  shardRange,
} from "../io/results.ts";
import { EngramError, ensure } from "../engine/errors.ts";
import { parseJson } from "../engine/fs.ts";
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
  const [first, rows] = shardRange(p.start, p.count, p.shard ? shardOf(p.shard) : null);
  return [first, first + rows];
}

const noProvenance = (path: string) =>
  `${path}: no provenance, so its model and revision are unknown; keep ${
    extname(path) === ".parquet"
      ? "the file's engram.provenance metadata"
      : `${basename(path)}.provenance.json`
  } beside it, or convert it to a CSV with columns model,revision,index,score`;

/** A results file's batches, checked against the rows its provenance gives (every index inside them, and as
 *  many rows as they hold). */
async function* checkedRows(
  path: string,
  provenance: Provenance,
  batches: AsyncGenerator<SourceBatch>,
): AsyncGenerator<SourceBatch> {
  const range = provenanceRows(provenance);
  let rows = 0;
  for await (const b of batches) {
    if (range) {
      for (let i = 0; i < b.length; i++) {
        const x = b.index[i];
        ensure(
          x >= range[0] && x < range[1],
          () =>
            `${path}: row ${rows + i} has index ${x}, outside the rows ${range[0]}..${range[1] - 1} its ` +
            `provenance gives; the file was edited or mixed up: rescore it`,
        );
      }
    }
    rows += b.length;
    yield b;
  }
  if (range) {
    const [a, b] = range;
    ensure(
      rows === b - a,
      () =>
        `${path}: holds ${rows} rows but its provenance says rows ${a}..${b - 1} (${b - a}); ` +
        `the file is truncated or has duplicates: rescore or merge it again`,
    );
  }
}

/** A CSV or JSONL file the score command wrote: one model@revision, named by its provenance. */
async function openScoreResults(path: string): Promise<InputReader> {
  const { table: t, provenance } = await readResults(path);
  ensure(provenance && provenance.model && provenance.revision, () => noProvenance(path));
  return {
    path,
    kind: "results",
    listedOnly: false,
    provenance,
    batches: () =>
      checkedRows(
        path,
        provenance,
        (async function* () {
          yield {
            model: provenance.model,
            revision: provenance.revision,
            continuation: t.continuation,
            length: t.index.length,
            index: t.index,
            matches: t.matches,
            firstMismatch: t.firstMismatch,
            logprob: t.logprob,
          };
        })(),
      ),
  };
}

/** A Parquet file the score command wrote, read row group by row group (index, matches, first_mismatch and
 *  logprob only). */
async function openScoreParquet(path: string, file: ParquetFile): Promise<InputReader> {
  const kv = file.metadata.key_value_metadata?.find((m) => m.key === PROVENANCE_KEY)?.value;
  const provenance = kv ? parseJson(kv, `${path}: provenance`, "rewrite it") as Provenance : null;
  ensure(provenance && provenance.model && provenance.revision, () => noProvenance(path));
  const p = provenance;
  const logprob = file.names.includes("logprob");
  const { parquetRead } = await import("hyparquet");
  return {
    path,
    kind: "results",
    listedOnly: false,
    provenance: p,
    batches: () =>
      checkedRows(
        path,
        p,
        (async function* () {
          let rowStart = 0;
          for (const group of file.metadata.row_groups) {
            const rows = Number(group.num_rows);
            const index = new Float64Array(rows), firstMismatch = new Int16Array(rows);
            const matches = new Int16Array(rows), lp = logprob ? new Float32Array(rows) : null;
            let anyMatches = false;
            await parquetRead({
              file: file.buffer,
              metadata: file.metadata,
              columns: ["index", "matches", "first_mismatch", ...(logprob ? ["logprob"] : [])],
              rowStart,
              rowEnd: rowStart + rows,
              onChunk: ({ columnName, columnData, rowStart: at }) => {
                const o = at - rowStart, n = columnData.length;
                if (columnName === "index") {
                  for (let i = 0; i < n; i++) index[o + i] = Number(columnData[i]);
                } else if (columnName === "first_mismatch") {
                  for (let i = 0; i < n; i++) firstMismatch[o + i] = Number(columnData[i]);
                } else if (columnName === "logprob") {
                  for (let i = 0; i < n; i++) lp![o + i] = Number(columnData[i]);
                } else {
                  for (let i = 0; i < n; i++) {
                    const v = columnData[i];
                    if (v !== null && v !== undefined) anyMatches = true;
                    matches[o + i] = v === null || v === undefined ? NOT_SCORED : Number(v);
                  }
                }
              },
            });
            rowStart += rows;
            yield {
              model: p.model,
              revision: p.revision,
              continuation: p.continuation,
              length: rows,
              index,
              matches: anyMatches ? matches : null,
              firstMismatch,
              logprob: lp,
            };
          }
        })(),
      ),
  };
}

/** Bytes read at a time from a reference CSV; a batch per model@revision within each. */
const CSV_CHUNK_BYTES = 16 << 20;
const COMMA = 44, LF = 10, CR = 13, DOT = 46, MINUS = 45, ZERO = 48;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** The number in bytes [s, e): plain decimals parsed here exactly as Number() would (integer digits / 10^n,
 *  one correctly rounded division); anything else through Number(); NaN for an empty cell. */
function numberAt(b: Uint8Array, s: number, e: number): number {
  while (s < e && b[s] === 32) s++;
  while (e > s && b[e - 1] === 32) e--;
  if (s === e) return NaN;
  let digits = 0, fraction = -1, i = s, plain = b[s] !== MINUS && e - s <= 16;
  for (; i < e && plain; i++) {
    const c = b[i];
    if (c === DOT && fraction < 0) fraction = 0;
    else if (c >= ZERO && c <= ZERO + 9) {
      digits = digits * 10 + c - ZERO;
      if (fraction >= 0) fraction++;
    } else plain = false;
  }
  if (plain) return fraction > 0 ? digits / POW10[fraction] : digits;
  const text = new TextDecoder().decode(b.subarray(s, e)).trim();
  return text === "null" || text === "NA" || text === "NaN" ? NaN : Number(text);
}

/** A CSV with columns model,revision,index,score[,first_mismatch]: the layout of shared/pico/reference. Read
 *  from bytes a chunk at a time; model and revision are compared as bytes, so no string is made per row. */
function openReferenceCsv(path: string, header: string[]): InputReader {
  const [iModel, iRevision, iIndex, iScore, iFirst] = [
    "model",
    "revision",
    "index",
    "score",
    "first_mismatch",
  ]
    .map((name) => header.indexOf(name));
  ensure(
    iIndex >= 0 && (iScore >= 0 || iFirst >= 0),
    () =>
      `${path}: a model,revision CSV needs columns index and score (or first_mismatch); has ${
        header.join(",")
      }`,
  );
  const c = 32, columns = header.length;
  return {
    path,
    kind: "reference",
    listedOnly: false,
    provenance: null,
    async *batches() {
      using file = await Deno.open(path);
      let carry = new Uint8Array(0), line = 1, first = true, done = false;
      const starts = new Int32Array(columns + 1);
      while (!done) {
        const chunk = new Uint8Array(CSV_CHUNK_BYTES);
        let got = 0;
        while (got < chunk.length) {
          const n = await file.read(chunk.subarray(got));
          if (n === null) {
            done = true;
            break;
          }
          got += n;
        }
        const bytes = new Uint8Array(carry.length + got);
        bytes.set(carry);
        bytes.set(chunk.subarray(0, got), carry.length);
        const end = done ? bytes.length : bytes.lastIndexOf(LF) + 1;
        carry = bytes.slice(end);
        const groups = new Map<string, Group>();
        let group: Group | null = null, lastKey = new Uint8Array(0);
        for (let s = 0; s < end;) {
          let e = bytes.indexOf(LF, s);
          if (e < 0 || e > end) e = end;
          const next = e + 1;
          if (e > s && bytes[e - 1] === CR) e--;
          if (first) { // the header
            first = false;
            s = next;
            continue;
          }
          line++;
          if (e === s) {
            s = next;
            continue;
          }
          let k = 1;
          starts[0] = s;
          for (let i = s; i < e && k <= columns; i++) if (bytes[i] === COMMA) starts[k++] = i + 1;
          ensure(k === columns, () => `${path}:${line}: ${k} cells but the header has ${columns}`);
          starts[columns] = e + 1;
          const cell = (j: number) => [starts[j], starts[j + 1] - 1] as const;
          // model,revision as one byte key: a new group only when it changes.
          const [ms] = cell(iModel), [, re] = cell(iRevision);
          const key = bytes.subarray(Math.min(ms, starts[iRevision]), Math.max(re, starts[iModel + 1] - 1));
          if (!group || !sameBytes(key, lastKey)) {
            const model = text(bytes, ...cell(iModel)), revision = text(bytes, ...cell(iRevision));
            const name = `${model}@${revision}`;
            group = groups.get(name) ?? null;
            if (!group) groups.set(name, group = new Group(model, revision));
            lastKey = key;
          }
          const index = numberAt(bytes, ...cell(iIndex));
          const score = iScore >= 0 ? numberAt(bytes, ...cell(iScore)) : NaN;
          const firstMismatch = iFirst >= 0 ? numberAt(bytes, ...cell(iFirst)) : NaN;
          ensure(
            score === score || firstMismatch === firstMismatch,
            () =>
              `${path}:${line}: row ${index} of ${group!.model}@${
                group!.revision
              } has neither score nor first_mismatch`,
          );
          let matches = NOT_SCORED;
          if (score === score) {
            matches = score * c;
            ensure(
              score >= 0 && score <= 1 && Number.isInteger(matches),
              () => `${path}:${line}: score ${score} is not k/${c} for k in 0..${c}`,
            );
          }
          group.push(
            index,
            matches,
            firstMismatch === firstMismatch ? firstMismatch : matches === c ? c : FIRST_MISMATCH_UNKNOWN,
          );
          s = next;
        }
        for (const g of groups.values()) yield g.batch(c);
      }
    },
  };
}

const text = (b: Uint8Array, s: number, e: number) => new TextDecoder().decode(b.subarray(s, e)).trim();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The rows of one model@revision within a chunk, in growing typed arrays. */
class Group {
  length = 0;
  index = new Float64Array(1024);
  matches = new Uint8Array(1024);
  firstMismatch = new Uint8Array(1024);
  scored = false;

  constructor(readonly model: string, readonly revision: string) {}

  push(index: number, matches: number, firstMismatch: number): void {
    if (this.length === this.index.length) {
      const grow = <T extends Float64Array | Uint8Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.index = grow(this.index);
      this.matches = grow(this.matches);
      this.firstMismatch = grow(this.firstMismatch);
    }
    this.index[this.length] = index;
    this.matches[this.length] = matches;
    this.firstMismatch[this.length++] = firstMismatch;
    if (matches !== NOT_SCORED) this.scored = true;
  }

  batch(continuation: number): SourceBatch {
    const n = this.length;
    return {
      model: this.model,
      revision: this.revision,
      continuation,
      length: n,
      index: this.index.subarray(0, n),
      matches: this.scored ? this.matches.subarray(0, n) : null,
      firstMismatch: this.firstMismatch.subarray(0, n),
      logprob: null,
    };
  }
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

type ParquetFile = Awaited<ReturnType<typeof openParquet>>;

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
    return openScoreParquet(path, file);
  }
  if (ext === ".csv") {
    const head = await readHead(path);
    const header = head.split(/\r?\n/, 1)[0].split(",").map((s) => s.trim());
    if (header.includes("model") && header.includes("revision")) return openReferenceCsv(path, header);
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
