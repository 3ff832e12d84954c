// Score results files: one row per scored training row, in Parquet, CSV or JSONL, with their provenance.
// Columns, in order: index (int64), score (double = matches/continuation; null in extractable mode),
// matches (int32; null in extractable mode), first_mismatch (int32), memorized (boolean), logprob (double, optional).
// hyparquet is imported where Parquet is used, so CSV/JSONL results need no npm package (the GPU machine
// has no registry).
import type { parquetWriteBuffer } from "hyparquet-writer";
import { EngramError, ensure } from "../engine/errors.ts";
import { dirname, extname } from "../engine/path.ts";

/** Columnar scores, one row per scored training row, sorted by index. */
export interface ScoreTable {
  /** Row index in the training data (may exceed 2^31; exact up to 2^53). */
  index: Float64Array;
  /** Greedy tokens equal to the true continuation; null in "extractable" mode. */
  matches: Int16Array | null;
  /** First position where greedy ≠ truth, = continuation length if none. */
  firstMismatch: Int16Array;
  /** Optional mean log-prob of the true continuation. */
  logprob: Float32Array | null;
  /** Continuation length (32 in the paper). */
  continuation: number;
}

/** Everything needed to know what produced a results file. */
export interface Provenance {
  model: string;
  revision: string;
  model_path: string;
  params: number;
  config_hash: string;
  data: string;
  prompt: number;
  continuation: number;
  offset: number;
  mode: "score" | "extractable";
  paper_compatible: boolean;
  /** Whether rows carry the mean log-probability of the true continuation. */
  logprob: boolean;
  engram_version: string;
  adapter: string;
  /** Matmul tile variants used (engine/tuning.ts source: variant names); results never depend on them. */
  kernels?: string;
  /** The job's rows: [start, start + count) of the data, before any sharding. */
  start: number;
  count: number;
  /** Rows this file holds: all of the job's, or its shard's share (shardRange in cli/score.ts). */
  rows: number;
  /** "i/N" when the file holds one contiguous share of the job's rows. */
  shard?: string;
  created: string;
}

export const PROVENANCE_KEY = "engram.provenance";
export const RESULT_FORMATS = [".parquet", ".csv", ".jsonl"] as const;
type Format = typeof RESULT_FORMATS[number];

/** The sidecar that holds a CSV or JSONL file's provenance. */
export const provenancePath = (path: string) => `${path}.provenance.json`;

function formatOf(path: string): Format {
  const ext = extname(path).toLowerCase();
  ensure(
    (RESULT_FORMATS as readonly string[]).includes(ext),
    () =>
      `${path}: unknown results format "${ext || "(no extension)"}"; name the file .parquet, .csv or .jsonl`,
  );
  return ext as Format;
}

const score = (t: ScoreTable, i: number) => t.matches === null ? null : t.matches[i] / t.continuation;
const memorized = (t: ScoreTable, i: number) => t.firstMismatch[i] === t.continuation;
const logprob = (t: ScoreTable, i: number) => t.logprob === null ? null : t.logprob[i];

function checkTable(path: string, table: ScoreTable, prov: Provenance): void {
  const n = table.index.length;
  const c = table.continuation;
  ensure(
    Number.isInteger(c) && c >= 1 && c <= 32767,
    () => `${path}: continuation length ${c} must be an integer in 1..32767`,
  );
  ensure(
    prov.continuation === c,
    () =>
      `${path}: provenance says continuation ${prov.continuation} but the table has ${c}; make them agree`,
  );
  for (const [name, col] of [["matches", table.matches], ["firstMismatch", table.firstMismatch]] as const) {
    ensure(
      col === null || col.length === n,
      () => `${path}: column ${name} has ${col!.length} rows but index has ${n}`,
    );
  }
  ensure(
    table.logprob === null || table.logprob.length === n,
    () => `${path}: column logprob has ${table.logprob!.length} rows but index has ${n}`,
  );
  ensure(
    (table.matches === null) === (prov.mode === "extractable"),
    () =>
      `${path}: mode "${prov.mode}" needs matches ${
        prov.mode === "extractable" ? "= null" : "per row"
      }; pass the table the decoder produced`,
  );
  for (let i = 0; i < n; i++) {
    const x = table.index[i];
    if (!Number.isSafeInteger(x) || x < 0 || (i > 0 && x <= table.index[i - 1])) {
      throw new EngramError(
        `${path}: row ${i} has index ${x}; indices must be integers ≥ 0, strictly increasing (sort and dedupe)`,
      );
    }
    const f = table.firstMismatch[i];
    if (f < 0 || f > c || (table.matches !== null && (table.matches[i] < 0 || table.matches[i] > c))) {
      throw new EngramError(
        `${path}: row ${i} (index ${x}) has first_mismatch ${f}${
          table.matches ? `, matches ${table.matches[i]}` : ""
        } outside 0..${c}`,
      );
    }
  }
}

async function parquetBytes(table: ScoreTable, prov: Provenance): Promise<ArrayBuffer> {
  const writer = await import("hyparquet-writer");
  const n = table.index.length;
  const columnData = [
    { name: "index", data: BigInt64Array.from(table.index, (x) => BigInt(x)) },
    { name: "score", data: Array.from({ length: n }, (_, i) => score(table, i)) },
    { name: "matches", data: Array.from({ length: n }, (_, i) => table.matches?.[i] ?? null) },
    { name: "first_mismatch", data: Int32Array.from(table.firstMismatch) },
    { name: "memorized", data: Array.from({ length: n }, (_, i) => memorized(table, i)) },
    ...(table.logprob ? [{ name: "logprob", data: Float64Array.from(table.logprob) }] : []),
  ];
  const schema = [
    { name: "root", num_children: columnData.length },
    { name: "index", type: "INT64", repetition_type: "REQUIRED" },
    { name: "score", type: "DOUBLE", repetition_type: "OPTIONAL" },
    { name: "matches", type: "INT32", repetition_type: "OPTIONAL" },
    { name: "first_mismatch", type: "INT32", repetition_type: "REQUIRED" },
    { name: "memorized", type: "BOOLEAN", repetition_type: "REQUIRED" },
    ...(table.logprob ? [{ name: "logprob", type: "DOUBLE", repetition_type: "REQUIRED" }] : []),
  ] as const;
  return writer.parquetWriteBuffer({
    columnData,
    schema: schema as unknown as Parameters<typeof parquetWriteBuffer>[0]["schema"],
    kvMetadata: [{ key: PROVENANCE_KEY, value: JSON.stringify(prov) }],
    createdBy: `engram ${prov.engram_version}`,
    rowGroupSize: 1 << 20,
  });
}

const cell = (v: number | boolean | null) => v === null ? "" : String(v);

function csvText(table: ScoreTable): string {
  const header = ["index", "score", "matches", "first_mismatch", "memorized"];
  if (table.logprob) header.push("logprob");
  const lines = [header.join(",")];
  for (let i = 0; i < table.index.length; i++) {
    const row = [table.index[i], score(table, i), table.matches?.[i] ?? null, table.firstMismatch[i]];
    row.push(memorized(table, i) as unknown as number);
    if (table.logprob) row.push(logprob(table, i));
    lines.push(row.map(cell).join(","));
  }
  return lines.join("\n") + "\n";
}

function jsonlText(table: ScoreTable): string {
  const lines: string[] = [];
  for (let i = 0; i < table.index.length; i++) {
    const row: Record<string, number | boolean | null> = {
      index: table.index[i],
      score: score(table, i),
      matches: table.matches?.[i] ?? null,
      first_mismatch: table.firstMismatch[i],
      memorized: memorized(table, i),
    };
    if (table.logprob) row.logprob = logprob(table, i);
    lines.push(JSON.stringify(row));
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** Writes `data` to `path` through `<path>.tmp-<pid>` and a rename, so readers never see half a file. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    if (e instanceof EngramError) throw e;
    throw new EngramError(`cannot write ${path}: ${(e as Error).message}; check the folder and free space`);
  }
}

/** Writes a results file; the format follows the extension (.parquet, .csv, .jsonl). */
export async function writeResults(path: string, table: ScoreTable, prov: Provenance): Promise<void> {
  const format = formatOf(path);
  checkTable(path, table, prov);
  await Deno.mkdir(dirname(path), { recursive: true }).catch(() => {});
  if (format === ".parquet") {
    await writeAtomic(path, new Uint8Array(await parquetBytes(table, prov)));
    return;
  }
  await writeAtomic(provenancePath(path), JSON.stringify(prov, null, 1) + "\n");
  await writeAtomic(path, format === ".csv" ? csvText(table) : jsonlText(table));
}

/** Column values as read back: numbers (NaN for null) per column name, in file order. */
type Columns = Map<string, (number | boolean | null)[]>;

function parseProvenance(text: string, where: string): Provenance {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new EngramError(`${where}: provenance is not valid JSON (${(e as Error).message}); rewrite it`);
  }
  ensure(
    typeof value === "object" && value !== null && !Array.isArray(value),
    `${where}: provenance is not a JSON object`,
  );
  return value as Provenance;
}

async function readParquet(path: string, bytes: Uint8Array) {
  const { parquetMetadata, parquetRead, parquetSchema } = await import("hyparquet");
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let metadata;
  try {
    metadata = parquetMetadata(file);
  } catch (e) {
    throw new EngramError(`${path}: not a readable Parquet file (${(e as Error).message})`);
  }
  const kv = metadata.key_value_metadata?.find((m) => m.key === PROVENANCE_KEY)?.value;
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  const n = Number(metadata.num_rows);
  const columns: Columns = new Map(names.map((name) => [name, new Array(n)]));
  await parquetRead({
    file,
    metadata,
    onChunk: ({ columnName, columnData, rowStart }) => {
      const out = columns.get(columnName)!;
      for (let i = 0; i < columnData.length; i++) {
        const v = columnData[i];
        out[rowStart + i] = typeof v === "bigint" ? Number(v) : v as number | boolean | null;
      }
    },
  });
  return { columns, provenance: kv === undefined ? null : parseProvenance(kv, path), rows: n };
}

function parseCell(text: string): number | boolean | null {
  if (text === "" || text === "null" || text === "NA" || text === "NaN") return null;
  if (text === "true" || text === "True") return true;
  if (text === "false" || text === "False") return false;
  return Number(text);
}

function readCsv(path: string, text: string): { columns: Columns; rows: number } {
  const lines = text.split(/\r?\n/).filter((l) => l !== "");
  ensure(lines.length > 0, () => `${path}: empty CSV; expected a header index,score,matches,...`);
  const names = lines[0].split(",").map((s) => s.trim());
  const columns: Columns = new Map(names.map((name) => [name, new Array(lines.length - 1)]));
  const cols = names.map((name) => columns.get(name)!);
  for (let r = 1; r < lines.length; r++) {
    const cells = lines[r].split(",");
    ensure(
      cells.length === names.length,
      () => `${path}:${r + 1}: ${cells.length} cells but the header has ${names.length}`,
    );
    for (let c = 0; c < cells.length; c++) cols[c][r - 1] = parseCell(cells[c].trim());
  }
  return { columns, rows: lines.length - 1 };
}

function readJsonl(path: string, text: string): { columns: Columns; rows: number } {
  const objects: Record<string, unknown>[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    try {
      objects.push(JSON.parse(lines[i]));
    } catch (e) {
      throw new EngramError(`${path}:${i + 1}: not valid JSON (${(e as Error).message}); one object a line`);
    }
  }
  const names = [...new Set(objects.flatMap((o) => Object.keys(o)))];
  const columns: Columns = new Map(
    names.map((name) => [name, objects.map((o) => (o[name] ?? null) as number | boolean | null)]),
  );
  return { columns, rows: objects.length };
}

async function readSidecar(path: string): Promise<Provenance | null> {
  const side = provenancePath(path);
  try {
    return parseProvenance(await Deno.readTextFile(side), side);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The continuation length: from provenance, else from a memorized row or a scored one; 32 by default. */
function inferContinuation(columns: Columns, rows: number, prov: Provenance | null): number {
  if (prov && Number.isInteger(prov.continuation)) return prov.continuation;
  const memorized = columns.get("memorized"), first = columns.get("first_mismatch");
  const matches = columns.get("matches"), score = columns.get("score");
  for (let i = 0; i < rows; i++) {
    if (memorized?.[i] === true && typeof first?.[i] === "number") return first[i] as number;
    const m = matches?.[i], s = score?.[i];
    if (typeof m === "number" && typeof s === "number" && s > 0) return Math.round(m / s);
  }
  return 32;
}

function toTable(path: string, columns: Columns, rows: number, prov: Provenance | null): ScoreTable {
  for (const name of ["index", "first_mismatch"]) {
    ensure(
      columns.has(name),
      () =>
        `${path}: no "${name}" column (has ${
          [...columns.keys()].join(", ")
        }); is this an engram results file?`,
    );
  }
  const continuation = inferContinuation(columns, rows, prov);
  const number = (name: string, i: number): number => {
    const v = columns.get(name)![i];
    if (typeof v !== "number" || Number.isNaN(v)) {
      throw new EngramError(`${path}: row ${i} has ${name} = ${v}; expected a number`);
    }
    return v;
  };
  const index = new Float64Array(rows), firstMismatch = new Int16Array(rows);
  for (let i = 0; i < rows; i++) {
    index[i] = number("index", i);
    firstMismatch[i] = number("first_mismatch", i);
  }
  const present = (name: string) => columns.get(name)?.some((v) => v !== null) ?? false;
  let matches: Int16Array | null = null;
  if (present("matches")) {
    matches = new Int16Array(rows);
    for (let i = 0; i < rows; i++) matches[i] = number("matches", i);
  } else if (present("score")) {
    matches = new Int16Array(rows);
    for (let i = 0; i < rows; i++) matches[i] = Math.round(number("score", i) * continuation);
  }
  let logprob: Float32Array | null = null;
  if (present("logprob")) {
    logprob = new Float32Array(rows);
    for (let i = 0; i < rows; i++) logprob[i] = number("logprob", i);
  }
  return { index, matches, firstMismatch, logprob, continuation };
}

/** Reads a results file written by writeResults (or any file with its columns); provenance is null if absent. */
export async function readResults(
  path: string,
): Promise<{ table: ScoreTable; provenance: Provenance | null }> {
  const format = formatOf(path);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new EngramError(`${path} not found; pass a results file written by the score command`);
    }
    throw new EngramError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (format === ".parquet") {
    const { columns, provenance, rows } = await readParquet(path, bytes);
    return { table: toTable(path, columns, rows, provenance), provenance };
  }
  const text = new TextDecoder().decode(bytes);
  const { columns, rows } = format === ".csv" ? readCsv(path, text) : readJsonl(path, text);
  const provenance = await readSidecar(path);
  return { table: toTable(path, columns, rows, provenance), provenance };
}
