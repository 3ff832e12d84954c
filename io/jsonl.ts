// JSON Lines of flat records ({"index": 5, "score": 0.5, ...}) read from bytes a chunk at a time into the same
// typed columns as CSV (io/csv.ts). Keys and values are scanned in place; a record with anything unusual in it
// (escaped keys, strings, nested values) is handed to JSON.parse, which decides.
import { EngramError } from "../base/errors.ts";
import { ColumnBuilder, type CsvBatch, type CsvColumnSpec, type CsvOptions, dictionariesFor } from "./csv.ts";
import { ByteStream } from "./files.ts";

const LF = 10, QUOTE = 34, COLON = 58, COMMA = 44, OPEN = 123, CLOSE = 125, BACKSLASH = 92;
const decoder = new TextDecoder();
const isSpace = (c: number) => c === 32 || c === 9 || c === 13 || c === 10;

/** A JSONL file opened for reading its records' keys a batch at a time. */
export interface JsonlReader {
  /** The file. */
  path: string;
  /** Rows in file order; each call reads the file again from its start. */
  batches(): AsyncGenerator<CsvBatch>;
  /** The distinct strings of a "dictionary" key seen so far, by id (grows as batches are read). */
  dictionary(name: string): readonly string[];
}

/** Opens a JSONL file for reading the named keys of its records (a key missing from a record is empty). */
export function openJsonl(
  path: string,
  columns: Record<string, CsvColumnSpec>,
  options: CsvOptions = {},
): JsonlReader {
  const dictionaries = dictionariesFor(columns);
  return {
    path,
    dictionary: (name) => dictionaries.get(name)?.values ?? [],
    batches: () => jsonlBatches(path, columns, dictionaries, options),
  };
}

async function* jsonlBatches(
  path: string,
  specs: Record<string, CsvColumnSpec>,
  dictionaries: ReturnType<typeof dictionariesFor>,
  options: CsvOptions,
): AsyncGenerator<CsvBatch> {
  const names = Object.keys(specs);
  const keyBytes = names.map((n) => new TextEncoder().encode(n));
  const out = new ColumnBuilder(
    path,
    names,
    names.map((n) => specs[n]),
    names.map((n) => dictionaries.get(n) ?? null),
    options.batchRows ?? 1 << 20,
    options.reuse,
    options.expectRows,
  );
  const seen = new Uint8Array(names.length);
  const slotOf = (b: Uint8Array, s: number, e: number): number => {
    for (let k = 0; k < keyBytes.length; k++) {
      const key = keyBytes[k];
      if (key.length !== e - s) continue;
      let same = true;
      for (let i = 0; i < key.length && same; i++) same = key[i] === b[s + i];
      if (same) return k;
    }
    return -1;
  };

  /** A record JSON.parse has to read: checked to be a flat object, its wanted values stored. */
  const slowRecord = (b: Uint8Array, s: number, e: number) => {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(b.subarray(s, e)));
    } catch (err) {
      out.fail(`not valid JSON (${(err as Error).message}); one object a line`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) out.fail("not a JSON object");
    const record = value as Record<string, unknown>;
    for (let k = 0; k < names.length; k++) {
      const v = Object.hasOwn(record, names[k]) ? record[names[k]] : null;
      if (v === null) out.empty(k);
      else if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") {
        out.storeText(k, String(v));
      } else out.fail(`"${names[k]}" is ${JSON.stringify(v)}, not a single value`);
    }
  };

  /** Reads the record b[s, e) (one line, not blank) into the current row. */
  const record = (b: Uint8Array, s: number, e: number) => {
    seen.fill(0);
    let i = s;
    while (i < e && isSpace(b[i])) i++;
    if (b[i] !== OPEN) return slowRecord(b, s, e);
    i++;
    for (;;) {
      while (i < e && isSpace(b[i])) i++;
      if (b[i] === CLOSE) break;
      if (b[i] !== QUOTE) return slowRecord(b, s, e);
      const ks = ++i;
      while (i < e && b[i] !== QUOTE && b[i] !== BACKSLASH) i++;
      if (b[i] !== QUOTE) return slowRecord(b, s, e);
      const k = slotOf(b, ks, i);
      i++;
      while (i < e && isSpace(b[i])) i++;
      if (b[i] !== COLON) return slowRecord(b, s, e);
      i++;
      while (i < e && isSpace(b[i])) i++;
      const vs = i;
      if (b[i] === QUOTE || b[i] === OPEN || b[i] === 91) return slowRecord(b, s, e); // strings, nested values
      while (i < e && b[i] !== COMMA && b[i] !== CLOSE && !isSpace(b[i])) i++;
      const ve = i;
      while (i < e && isSpace(b[i])) i++;
      if (b[i] !== COMMA && b[i] !== CLOSE) return slowRecord(b, s, e);
      if (k >= 0) {
        if (ve - vs === 4 && b[vs] === 110 && b[vs + 1] === 117) out.empty(k); // null
        else out.store(k, b, vs, ve);
        seen[k] = 1;
      }
      if (b[i] === CLOSE) break;
      i++;
    }
    for (i++; i < e; i++) if (!isSpace(b[i])) return slowRecord(b, s, e);
    for (let k = 0; k < names.length; k++) if (!seen[k]) out.empty(k);
  };

  let firstRow = 1;
  out.line = 0;
  const parse = function* (b: Uint8Array, last: boolean): Generator<CsvBatch, number> {
    let pos = 0;
    while (pos < b.length) {
      let nl = b.indexOf(LF, pos);
      if (nl < 0) {
        if (!last) break;
        nl = b.length;
      }
      out.line++;
      let blank = true;
      for (let i = pos; i < nl && blank; i++) blank = isSpace(b[i]);
      if (!blank) {
        out.room();
        record(b, pos, nl);
        if (++out.r === out.batchRows) {
          const batch = out.take(firstRow);
          firstRow += batch.length;
          yield batch;
        }
      }
      pos = nl + 1;
    }
    return pos;
  };
  const stream = await ByteStream.open(path, options.chunkBytes ?? 8 << 20, options.observe);
  try {
    let pos = 0;
    while (!stream.done) {
      const b = await stream.next(pos);
      pos = yield* parse(b, stream.done);
      if (b.length - pos > 64 << 20) {
        throw new EngramError(`${path}:${out.line + 1}: a line longer than 64 MiB`);
      }
    }
  } finally {
    stream.close();
  }
  if (out.r > 0) yield out.take(firstRow);
}
