// Writing results files (Parquet, CSV, JSONL, with the sidecar of the last two) from batches of rows, every
// row checked; each file appears whole or not at all.
import { ensure } from "../base/errors.ts";
import { AtomicFile } from "../base/atomic.ts";
import { type ParquetColumnSpec, ParquetWriter } from "./parquet.ts";
import { checkProvenance, type Provenance, PROVENANCE_KEY, provenancePath } from "./provenance.ts";
import { RowChecker } from "./results_check.ts";
import type { FileCheck } from "./results_read.ts";
import {
  BATCH_ROWS,
  RESULT_COLUMNS,
  type ResultColumn,
  resultColumnNames,
  type ResultsBatch,
  resultsFormat,
  type ScoreTable,
} from "./results_schema.ts";

/** How `writeResults` and `writeResultsStream` lay out a file. */
export interface WriteOptions {
  /** Rows per Parquet row group (default BATCH_ROWS). */
  rowGroupRows?: number;
}

/** Writes the rows of one format into an AtomicFile. */
interface Encoder {
  write(b: ResultsBatch): Promise<void>;
  finish(): Promise<void>;
}

/** Rows to write that messages about a bad row name by `source` (a journal: the file it was to become
 *  is not what is damaged). */
export interface NamedRows extends AsyncIterable<ResultsBatch> {
  /** What holds the rows, as messages about them name it. */
  readonly source: string;
}

/**
 * Writes a results file from batches of rows (any number, any sizes), checking every row and, at the end, that
 * the file holds exactly the provenance's rows (messages name `path`, or the `source` of NamedRows). The file
 * (and its sidecar) appear whole when this returns, or not at all when it throws.
 */
export function writeResultsStream(
  path: string,
  provenance: Provenance,
  batches: NamedRows | AsyncIterable<ResultsBatch> | Iterable<ResultsBatch>,
  options: WriteOptions = {},
): Promise<{ rows: number; memorized: number }> {
  return writeRows(path, provenance, batches, options, false);
}

/**
 * `writeResultsStream` of rows every one of which was checked as it was read, by `openResults` readers of files
 * that together hold exactly the provenance's rows, in order (merge's shards), whose messages named the file, row
 * and value: the writer checks each batch's columns, first and last index, and the count, not every row again.
 * io/ only (not in mod.ts): a library caller's rows are always checked.
 */
export function writeRowsCheckedAsRead(
  path: string,
  provenance: Provenance,
  rows: NamedRows,
  options: WriteOptions = {},
): Promise<{ rows: number; memorized: number }> {
  return writeRows(path, provenance, rows, options, true);
}

/** Both writers; `checked`: the rows were checked as read (see writeRowsCheckedAsRead). */
async function writeRows(
  path: string,
  provenance: Provenance,
  batches: NamedRows | AsyncIterable<ResultsBatch> | Iterable<ResultsBatch>,
  options: WriteOptions,
  checked: boolean,
): Promise<{ rows: number; memorized: number }> {
  const format = resultsFormat(path);
  const prov = checkProvenance(structuredClone(provenance), `${path} (provenance to write)`);
  const c = prov.continuation;
  const source = "source" in batches ? batches.source : path;
  const checker = new RowChecker(source, c, prov, prov.mode === "score", prov.logprob);
  const out = await AtomicFile.create(path);
  let side: AtomicFile | null = null;
  try {
    const encoder = format === ".parquet"
      ? parquetEncoder(out, prov, options.rowGroupRows ?? BATCH_ROWS)
      : textEncoder(out, format, prov);
    let memorized = 0;
    for await (const b of batches) {
      checker.check(b, checked);
      for (let i = 0; i < b.length; i++) if (b.firstMismatch[i] === c) memorized++;
      await encoder.write(b);
    }
    checker.end();
    await encoder.finish();
    await out.close();
    if (format !== ".parquet") {
      // The sidecar names the data it belongs to; it is renamed into place first, the data last.
      side = await AtomicFile.create(provenancePath(path));
      const check: FileCheck = { bytes: out.bytes, crc32: out.crc.hex() };
      await side.write(
        new TextEncoder().encode(JSON.stringify({ ...prov, results_file: check }, null, 1) + "\n"),
      );
      await side.commit();
    }
    await out.commit();
    return { rows: checker.rows, memorized };
  } catch (e) {
    await out.abort();
    await side?.abort();
    throw e;
  }
}
/** Writes a results file from one table (small files; `writeResultsStream` for any length). */
export async function writeResults(
  path: string,
  table: ScoreTable,
  prov: Provenance,
  options: WriteOptions = {},
): Promise<void> {
  ensure(
    prov.continuation === table.continuation,
    () =>
      `${path}: provenance says continuation ${prov.continuation} but the table has ${table.continuation}; ` +
      `make them agree`,
  );
  const n = table.index.length;
  for (
    const [name, col] of [["matches", table.matches], ["firstMismatch", table.firstMismatch], [
      "logprob",
      table.logprob,
    ]] as const
  ) {
    ensure(
      col === null || col.length === n,
      () => `${path}: column ${name} has ${col!.length} rows but index has ${n}`,
    );
  }
  ensure(
    (table.matches === null) === (prov.mode === "extractable"),
    () =>
      `${path}: mode "${prov.mode}" needs matches ${
        prov.mode === "extractable" ? "= null" : "per row"
      }; pass the table the decoder produced`,
  );
  const batch = { length: n, ...table };
  await writeResultsStream(path, prov, [batch], options);
}

/** The Parquet columns of a results file with this provenance (RESULT_COLUMNS). */
function parquetColumns(prov: Provenance): ParquetColumnSpec[] {
  const c = prov.continuation;
  const counts = Array.from({ length: c + 1 }, (_, k) => k);
  const dictionary = { counts, fractions: counts.map((k) => k / c) };
  return (RESULT_COLUMNS as readonly ResultColumn[])
    .filter((col) => prov.logprob || col.in !== "with --logprob")
    .map((col) => ({
      name: col.name,
      type: col.type,
      optional: col.in === "score mode",
      ...(col.values ? { dictionary: dictionary[col.values] } : {}),
    }));
}

/** Row groups of `groupRows` rows, whatever the sizes of the batches that fill them. */
function parquetEncoder(out: AtomicFile, prov: Provenance, groupRows: number): Encoder {
  const writer = new ParquetWriter(out, parquetColumns(prov), [{
    key: PROVENANCE_KEY,
    value: JSON.stringify(prov),
  }], `engram ${prov.engram_version}`);
  const c = prov.continuation;
  const index = new Float64Array(groupRows);
  const matches = prov.mode === "score" ? new Int16Array(groupRows) : null;
  const firstMismatch = new Int16Array(groupRows);
  const memorized = new Uint8Array(groupRows);
  const logprob = prov.logprob ? new Float64Array(groupRows) : null;
  let n = 0;
  const flush = async () => {
    if (n === 0) return;
    const cut = <A extends { subarray(a: number, b: number): A }>(a: A) => a.subarray(0, n);
    const m = matches ? cut(matches) : null;
    await writer.writeRowGroup(n, [
      cut(index),
      m,
      m,
      cut(firstMismatch),
      cut(memorized),
      ...(logprob ? [cut(logprob)] : []),
    ]);
    n = 0;
  };
  return {
    async write(b) {
      for (let at = 0; at < b.length;) {
        const k = Math.min(groupRows - n, b.length - at);
        index.set(b.index.subarray(at, at + k), n);
        if (matches) matches.set(b.matches!.subarray(at, at + k), n);
        firstMismatch.set(b.firstMismatch.subarray(at, at + k), n);
        for (let i = 0; i < k; i++) memorized[n + i] = b.firstMismatch[at + i] === c ? 1 : 0;
        if (logprob) logprob.set(b.logprob!.subarray(at, at + k), n);
        n += k;
        at += k;
        if (n === groupRows) await flush();
      }
    },
    async finish() {
      await flush();
      await writer.finish();
    },
  };
}

/** CSV or JSONL rows written as bytes, a slice of rows at a time; numbers that repeat are encoded once. */
function textEncoder(out: AtomicFile, format: ".csv" | ".jsonl", prov: Provenance): Encoder {
  const enc = new TextEncoder();
  const c = prov.continuation;
  const small = Array.from({ length: c + 1 }, (_, k) => enc.encode(String(k)));
  const scores = Array.from({ length: c + 1 }, (_, k) => enc.encode(String(k / c)));
  const csv = format === ".csv";
  const key = (name: string) => enc.encode(csv ? "," : `,"${name}":`);
  // The columns in RESULT_COLUMNS' order (the loop below writes them so), each after the first keyed.
  const [first, ...rest] = resultColumnNames(true);
  const [kScore, kMatches, kFirst, kMemorized, kLogprob] = rest.map(key);
  const open = enc.encode(csv ? "" : `{"${first}":`);
  const close = enc.encode(csv ? "\n" : "}\n");
  const empty = enc.encode(csv ? "" : "null");
  const bools = [enc.encode("false"), enc.encode("true")];
  const SLICE = 1 << 16;
  const buffer = new Uint8Array(SLICE * (160 + 2 * scores.reduce((m, s) => Math.max(m, s.length), 0)));
  let started = false;
  const start = async () => {
    if (!started && csv) {
      await out.write(
        enc.encode(`${resultColumnNames(prov.logprob).join(",")}\n`),
      );
    }
    started = true;
  };
  return {
    async write(b) {
      await start();
      for (let from = 0; from < b.length; from += SLICE) {
        let p = 0;
        const put = (bytes: Uint8Array) => {
          buffer.set(bytes, p);
          p += bytes.length;
        };
        for (let i = from; i < Math.min(b.length, from + SLICE); i++) {
          put(open);
          p = writeInteger(buffer, p, b.index[i]);
          const m = b.matches ? b.matches[i] : -1, f = b.firstMismatch[i];
          put(kScore);
          put(m >= 0 ? scores[m] : empty);
          put(kMatches);
          put(m >= 0 ? small[m] : empty);
          put(kFirst);
          put(small[f]);
          put(kMemorized);
          put(bools[f === c ? 1 : 0]);
          if (b.logprob) {
            put(kLogprob);
            const v = b.logprob[i];
            // (in LOGPROB_DOMAIN: checked) JSON has no number for -Infinity: the string "-Infinity", which
            // JSON.parse gives back as a string that this reader and Number() read as -Infinity.
            p +=
              enc.encodeInto(csv || v !== -Infinity ? String(v) : '"-Infinity"', buffer.subarray(p)).written;
          }
          put(close);
        }
        await out.write(buffer.subarray(0, p));
      }
    },
    finish: start,
  };
}

/** Writes the decimal digits of a non-negative integer < 2^53 at buffer[p]; returns the end. */
function writeInteger(buffer: Uint8Array, p: number, x: number): number {
  if (x < 10) {
    buffer[p] = 48 + x;
    return p + 1;
  }
  let digits = 0;
  for (let y = x; y >= 1; y = Math.floor(y / 10)) digits++;
  for (let k = p + digits - 1, y = x; k >= p; k--) {
    const q = Math.floor(y / 10);
    buffer[k] = 48 + (y - q * 10);
    y = q;
  }
  return p + digits;
}
