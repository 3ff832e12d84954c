// CSV read from bytes a chunk at a time into typed columns: numbers as Float64Array (NaN: empty), booleans as
// Int8Array (1, 0; -1: empty), strings that repeat (model, revision) as Int32Array ids into a small dictionary
// (-1: empty). Nothing is kept per row but typed values, so files of any length stream in bounded memory.
// Quoted cells ("a,b", "say ""hi""") are read as RFC 4180 says, line breaks inside quotes included.
import { EngramError } from "../base/errors.ts";
import { ByteStream } from "./files.ts";

/** How a column's cells are read: numbers, booleans, or strings that repeat (ids into a dictionary). */
export type CsvColumnType = "number" | "boolean" | "dictionary";

/** What the caller wants from one column; range checks refuse the file at the first cell outside them. */
export interface CsvColumnSpec {
  /** How its cells are read. */
  type: CsvColumnType;
  /** The file may lack this column (the batch then has no array for it); default: required. */
  optional?: boolean;
  /** Empty cells (also NA, null, NaN, None) are allowed; default: refused. */
  nullable?: boolean;
  /** Numbers must be integers. */
  integer?: boolean;
  /** Numbers must be at least this. */
  min?: number;
  /** Numbers must be at most this. */
  max?: number;
}

/** One batch of rows, in file order. */
export class CsvBatch {
  /** A batch of `length` rows from data row `firstRow` on, its columns by name. */
  constructor(
    /** Rows in this batch. */
    readonly length: number,
    /** Data row number (1-based: the first row after the header is 1) of the batch's first row. */
    readonly firstRow: number,
    private readonly columns: Map<string, Float64Array | Int8Array | Int32Array>,
  ) {}

  /** A "number" column (NaN where empty); undefined if the file lacks this optional column. */
  number(name: string): Float64Array | undefined {
    return this.columns.get(name) as Float64Array | undefined;
  }

  /** A "boolean" column (1, 0, -1 where empty). */
  boolean(name: string): Int8Array | undefined {
    return this.columns.get(name) as Int8Array | undefined;
  }

  /** A "dictionary" column: ids into `CsvReader.dictionary(name)` (-1 where empty). */
  ids(name: string): Int32Array | undefined {
    return this.columns.get(name) as Int32Array | undefined;
  }
}

/** A CSV file opened for reading its columns a batch at a time. */
export interface CsvReader {
  /** The file. */
  path: string;
  /** Column names in file order. */
  header: string[];
  /** Whether the file has column `name`. */
  has(name: string): boolean;
  /** The distinct strings of a "dictionary" column seen so far, by id (grows as batches are read). */
  dictionary(name: string): readonly string[];
  /** Rows in file order, at most `batchRows` at a time; each call reads the file again from its start. */
  batches(): AsyncGenerator<CsvBatch>;
}

/** How a CSV (or JSONL) file is read. */
export interface CsvOptions {
  /** Rows per batch (default 2^20). */
  batchRows?: number;
  /** Bytes read at a time (default 8 MiB). */
  chunkBytes?: number;
  /** Sees every byte of the file, in order, as `batches` reads it (e.g. to checksum it). */
  observe?: (bytes: Uint8Array) => void;
  /** Each batch's arrays are overwritten by the next batch (no fresh memory per batch); default: a batch's
   *  arrays are its own. */
  reuse?: boolean;
  /** Rows the file should hold (e.g. its provenance's): the first batch's arrays are made for that many, up to
   *  batchRows, instead of growing from 4,096 (a wrong count costs only memory or growth). */
  expectRows?: number;
}

const COMMA = 44, LF = 10, CR = 13, QUOTE = 34, SPACE = 32;
const decoder = new TextDecoder();

/** 10^0 .. 10^22: the powers of ten a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?Infinity$/;

/**
 * The number written in bytes [s, e) of `b` (spaces around it ignored), exactly as `Number(text)` reads it;
 * NaN when the cell is empty or not a number (tell them apart with `isEmptyCell`). Decimals of up to 19 digits
 * with a power of ten up to 22 either way (the shortest text of any double, e.g. a log-probability, has 17) are
 * read without making a string: exactly, as `nearestQuotient` proves; anything else goes through Number().
 */
export function parseNumber(b: Uint8Array, s: number, e: number): number {
  // The common cell: a short unsigned integer or decimal ("17", "0.53125") up to the end of the cell.
  if (e - s <= 15) {
    let m = 0, i = s, d = b[i] - 48;
    if (d >= 0 && d <= 9) {
      for (; i < e && (d = b[i] - 48) >= 0 && d <= 9; i++) m = m * 10 + d;
      if (i === e) return m;
      if (b[i] === 46) {
        const point = i;
        for (i++; i < e && (d = b[i] - 48) >= 0 && d <= 9; i++) m = m * 10 + d;
        if (i === e) return m / POW10[e - point - 1];
      }
    }
  }
  while (s < e && b[s] === SPACE) s++;
  while (e > s && (b[e - 1] === SPACE || b[e - 1] === CR)) e--;
  if (s === e) return NaN;
  let i = s, neg = false;
  if (b[i] === 45) {
    neg = true;
    i++;
  } else if (b[i] === 43) i++;
  // The digits are m·10^tail + rest: m takes digits while it stays < 9e15 (exact), `rest` up to 3 more.
  let m = 0, rest = 0, tail = 0, exp = 0, digits = 0, exact = true;
  for (; i < e; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) break;
    if (m < 9e14) m = m * 10 + d;
    else if (tail < 3) {
      rest = rest * 10 + d;
      tail++;
    } else exact = false;
    digits++;
  }
  if (i < e && b[i] === 46) {
    for (i++; i < e; i++) {
      const d = b[i] - 48;
      if (d < 0 || d > 9) break;
      if (m < 9e14) m = m * 10 + d;
      else if (tail < 3) {
        rest = rest * 10 + d;
        tail++;
      } else exact = false;
      exp--;
      digits++;
    }
  }
  if (digits > 0 && i < e && (b[i] === 101 || b[i] === 69)) {
    let j = i + 1, eneg = false, x = 0, xd = 0;
    if (b[j] === 45) {
      eneg = true;
      j++;
    } else if (b[j] === 43) j++;
    for (; j < e && b[j] >= 48 && b[j] <= 57; j++, xd++) x = x < 1e6 ? x * 10 + b[j] - 48 : x;
    if (xd > 0) {
      exp += eneg ? -x : x;
      i = j;
    }
  }
  if (digits > 0 && i === e && exact && exp >= -22 && exp <= 22) {
    // Up to 16 digits, m < 2^53 and 10^|exp| are exact: one correctly rounded operation gives what Number()
    // gives (Clinger's fast path).
    const v = tail === 0
      ? (exp < 0 ? m / POW10[-exp] : m * POW10[exp])
      : exp < 0
      ? nearestQuotient(m, tail, rest, -exp)
      : NaN;
    if (v === v) return neg ? -v : v;
  }
  const text = decoder.decode(b.subarray(s, e));
  return NUMBER_TEXT.test(text) ? Number(text) : NaN;
}

/** Veltkamp's constant, 2^27 + 1: splits a double into halves of 26 bits whose products are exact. */
const SPLIT = 134217729;
function highHalf(v: number): number {
  const t = v * SPLIT;
  return t - (t - v);
}
const POW10_HIGH = POW10.map(highHalf), POW10_LOW = POW10.map((p) => p - highHalf(p));
const bits = new DataView(new ArrayBuffer(8));

/**
 * The double nearest to w / 10^k, where w = m·10^tail + rest (m < 9e15, 1 ≤ tail ≤ 3, rest < 10^tail: up to 19
 * digits, an integer < 2^63) and 1 ≤ k ≤ 22; NaN when w / 10^k lies too near halfway between two doubles for
 * this test to tell (the caller then asks Number(), which rounds correctly). Why it is exact:
 *   - w = wh + wl exactly: m's high and low 26 bits times 10^tail are exact, and so is their Fast2Sum;
 *   - for a candidate x, x·10^k = p + q exactly (Dekker's product of Veltkamp halves), so the residual
 *     r = w − x·10^k = (wh − p) + wl − q, where wh − p is exact (p is within a few ulps of wh: Sterbenz) and the
 *     two sums after it are off by at most 2^-53·(|t| + |r|);
 *   - x is the double nearest to w / 10^k when |r| < half the gap from x to its neighbours times 10^k; the test
 *     asks it with a margin of 2^-50·(|t| + |q|), over what the rounding of r can be, and ties go to Number().
 * The first candidate, wh / 10^k, can be an ulp off (wh is w rounded); then x + r / 10^k is tried.
 */
function nearestQuotient(m: number, tail: number, rest: number, k: number): number {
  const mh = Math.floor(m / 67108864), ml = m - mh * 67108864;
  const a = mh * POW10[tail] * 67108864, c = ml * POW10[tail] + rest; // w = a + c, |a| > |c|
  const wh = a + c, wl = c - (wh - a);
  const P = POW10[k], Ph = POW10_HIGH[k], Pl = POW10_LOW[k];
  let x = wh / P;
  for (let round = 0; round < 2; round++) {
    const p = x * P, xh = highHalf(x), xl = x - xh;
    const q = xl * Pl - (((p - xh * Ph) - xl * Ph) - xh * Pl);
    const t = (wh - p) + wl, r = t - q;
    // The gap from x to its neighbours: its ulp, 2^(exponent − 52); below a power of two, half that.
    bits.setFloat64(0, x);
    const high = bits.getUint32(0), low = bits.getUint32(4);
    bits.setUint32(0, (high & 0x7ff00000) - (52 << 20));
    bits.setUint32(4, 0);
    const gap = (high & 0xfffff) === 0 && low === 0 ? bits.getFloat64(0) / 2 : bits.getFloat64(0);
    if (Math.abs(r) + (Math.abs(t) + Math.abs(q)) * 2 ** -50 < (gap / 2) * P) return x;
    x += r / P;
  }
  return NaN;
}

/** Empty, NA, null, NaN, nan, None: a missing value. */
export function isEmptyCell(b: Uint8Array, s: number, e: number): boolean {
  while (s < e && b[s] === SPACE) s++;
  while (e > s && (b[e - 1] === SPACE || b[e - 1] === CR)) e--;
  const n = e - s;
  if (n === 0) return true;
  if (n > 4) return false;
  const t = decoder.decode(b.subarray(s, e));
  return t === "NA" || t === "null" || t === "NaN" || t === "nan" || t === "None";
}

/** true/True/TRUE/1 → 1, false/False/FALSE/0 → 0, anything else → -2 (compared as bytes, any case). */
function parseBoolean(b: Uint8Array, s: number, e: number): number {
  while (s < e && b[s] === SPACE) s++;
  while (e > s && (b[e - 1] === SPACE || b[e - 1] === CR)) e--;
  const n = e - s;
  if (n === 1) return b[s] === 49 ? 1 : b[s] === 48 ? 0 : -2;
  const word = n === 4 ? TRUE : n === 5 ? FALSE : null;
  if (!word) return -2;
  for (let i = 0; i < n; i++) if ((b[s + i] | 32) !== word[i]) return -2;
  return n === 4 ? 1 : 0;
}
const TRUE = new TextEncoder().encode("true"), FALSE = new TextEncoder().encode("false");

/** Distinct strings of one column, looked up by their bytes (last hit first) without a string per row. */
export class Dictionary {
  /** The distinct strings, by id. */
  readonly values: string[] = [];
  private readonly bytes: Uint8Array[] = [];
  private readonly byText = new Map<string, number>();
  private last = -1;

  /** The id of the string in bytes b[s, e), added when new. */
  id(b: Uint8Array, s: number, e: number): number {
    const n = e - s;
    if (this.last >= 0 && sameBytes(this.bytes[this.last], b, s, n)) return this.last;
    if (this.bytes.length <= 64) {
      for (let k = 0; k < this.bytes.length; k++) {
        if (sameBytes(this.bytes[k], b, s, n)) return this.last = k;
      }
    }
    return this.last = this.idOf(decoder.decode(b.subarray(s, e)));
  }

  /** The id of `text`, added when new. */
  idOf(text: string): number {
    let k = this.byText.get(text);
    if (k === undefined) {
      k = this.values.length;
      this.values.push(text);
      this.bytes.push(new TextEncoder().encode(text));
      this.byText.set(text, k);
    }
    return k;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, s: number, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[s + i]) return false;
  return true;
}

/** Splits one header line into names (quotes and a UTF-8 byte-order mark handled). */
function splitHeader(path: string, line: string): string[] {
  const names: string[] = [];
  let i = 0;
  line = line.replace(/^\uFEFF/, "").replace(/\r$/, "");
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = "";
      for (i++; i < line.length; i++) {
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i++;
          } else break;
        } else v += line[i];
      }
      names.push(v.trim());
      i = line.indexOf(",", i) + 1 || line.length + 1;
    } else {
      const j = line.indexOf(",", i);
      names.push(line.slice(i, j < 0 ? line.length : j).trim());
      i = j < 0 ? line.length + 1 : j + 1;
    }
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new EngramError(`${path}: column "${name}" appears twice in the header`);
    seen.add(name);
  }
  return names;
}

/** The first line of the file (the header), read without reading the rest. */
async function readHeaderLine(path: string): Promise<string> {
  const stream = await ByteStream.open(path, 1 << 16);
  try {
    for (;;) {
      const b = await stream.next(0);
      const nl = b.indexOf(LF);
      // A CR before the first LF, not right before it: lines that end in CR alone (classic Mac OS), which
      // would read as one long header.
      const cr = b.indexOf(CR);
      if (cr >= 0 && (nl < 0 ? cr + 1 < b.length : cr + 1 < nl)) {
        throw new EngramError(
          `${path}: lines end in a carriage return alone (CR, not LF or CRLF); convert them, e.g. ` +
            `tr '\\r' '\\n' < ${path} > fixed.csv`,
        );
      }
      if (nl >= 0 || stream.done) return decoder.decode(nl >= 0 ? b.subarray(0, nl) : b);
      if (b.length > 1 << 20) {
        throw new EngramError(`${path}: no line break in the first MiB; is this a CSV file?`);
      }
    }
  } finally {
    stream.close();
  }
}

const TYPE_CODE = { number: 0, boolean: 1, dictionary: 2 } as const;

/**
 * Typed columns being filled, one batch at a time: slot k holds column `names[k]` as its spec says. Shared by
 * the CSV and JSONL readers, so both parse and refuse cells the same way.
 */
export class ColumnBuilder {
  /** Rows stored in the current batch. */
  r = 0;
  /** Line of the file being parsed (for messages). */
  line = 1;
  private arrays: (Float64Array | Int8Array | Int32Array)[] = [];
  private readonly types: number[];
  private readonly lo: number[];
  private readonly hi: number[];
  private readonly integer: boolean[];

  /** Columns `names` of the file at `path` as `specs` say, `batchRows` rows a batch at most; `expectRows`: the
   *  rows the file should hold, when known (the first batch's room). */
  constructor(
    readonly path: string,
    readonly names: string[],
    private readonly specs: CsvColumnSpec[],
    private readonly dictionaries: (Dictionary | null)[],
    readonly batchRows: number,
    private readonly reuse = false,
    expectRows = 0,
  ) {
    this.types = specs.map((s) => TYPE_CODE[s.type]);
    this.lo = specs.map((s) => s.min ?? -Infinity);
    this.hi = specs.map((s) => s.max ?? Infinity);
    this.integer = specs.map((s) => s.integer ?? false);
    this.capacity = expectRows;
    this.fresh();
  }

  /** Room for rows in the current batch: grows (doubling) up to batchRows, so small files stay small; it starts
   *  at the rows the file should hold when told (growing them again for each of a merge's shards cost ~1 s of 8M
   *  rows), and a batch after a full one at its size (fresh arrays are costly: growing each batch again took 14%
   *  of a large file's read). */
  private capacity: number;

  /** New arrays for a batch. */
  private fresh(): void {
    this.arrays = [];
    this.allocate(Math.min(this.batchRows, Math.max(4096, this.capacity)));
  }

  /** Twice the room (at most batchRows), the rows stored kept. */
  private grow(): void {
    this.allocate(Math.min(this.batchRows, 2 * this.capacity));
  }

  /** Arrays of `n` rows, the rows stored kept. */
  private allocate(n: number): void {
    this.arrays = this.types.map((t, k) => {
      const a = t === 0 ? new Float64Array(n) : t === 1 ? new Int8Array(n) : new Int32Array(n);
      if (this.arrays[k]) a.set(this.arrays[k].subarray(0, this.r) as never);
      return a;
    });
    this.capacity = n;
  }

  /** Makes room for the current row (call before storing into it). */
  room(): void {
    if (this.r >= this.capacity) this.grow();
  }

  /** The rows stored so far as a batch; the builder starts a new one. */
  take(firstRow: number): CsvBatch {
    const n = this.r;
    const batch = new CsvBatch(
      n,
      firstRow,
      new Map(this.names.map((name, k) => [name, this.arrays[k].subarray(0, n)])),
    );
    this.r = 0;
    if (!this.reuse) this.fresh();
    return batch;
  }

  /** Throws the EngramError "`path`:`line`: `what`". */
  fail(what: string): never {
    throw new EngramError(`${this.path}:${this.line}: ${what}`);
  }

  /** Slot k is missing from the current row. */
  empty(k: number): void {
    if (!this.specs[k].nullable) this.fail(`no "${this.names[k]}" value; every row needs one`);
    const t = this.types[k];
    this.arrays[k][this.r] = t === 0 ? NaN : -1;
  }

  /** Stores slot k's cell b[s, e) at the current row. */
  store(k: number, b: Uint8Array, s: number, e: number): void {
    const t = this.types[k];
    if (t === 0) {
      const v = parseNumber(b, s, e);
      if (v !== v) {
        if (!isEmptyCell(b, s, e)) this.bad(k, b, s, e, "not a number");
        return this.empty(k);
      }
      if (v < this.lo[k] || v > this.hi[k] || (this.integer[k] && v !== Math.floor(v))) {
        this.outOfRange(k, b, s, e);
      }
      (this.arrays[k] as Float64Array)[this.r] = v;
    } else if (t === 1) {
      const v = parseBoolean(b, s, e);
      if (v === -2) {
        if (!isEmptyCell(b, s, e)) this.bad(k, b, s, e, "not true or false");
        return this.empty(k);
      }
      (this.arrays[k] as Int8Array)[this.r] = v;
    } else {
      while (s < e && b[s] === SPACE) s++;
      while (e > s && (b[e - 1] === SPACE || b[e - 1] === CR)) e--;
      if (s === e) return this.empty(k);
      (this.arrays[k] as Int32Array)[this.r] = this.dictionaries[k]!.id(b, s, e);
    }
  }

  /** Refuses slot k's cell b[s, e), saying `why`. */
  private bad(k: number, b: Uint8Array, s: number, e: number, why: string): never {
    this.fail(`"${this.names[k]}" is ${JSON.stringify(decoder.decode(b.subarray(s, e)))}, ${why}`);
  }

  /** Refuses slot k's cell b[s, e) as outside its spec's range. */
  private outOfRange(k: number, b: Uint8Array, s: number, e: number): never {
    const spec = this.specs[k];
    const range = spec.min !== undefined || spec.max !== undefined
      ? ` in [${spec.min ?? "-∞"}, ${spec.max ?? "∞"}]`
      : "";
    this.bad(k, b, s, e, `expected ${spec.integer ? "an integer" : "a number"}${range}`);
  }

  /** Stores a value given as text (quoted cells with escapes, JSON strings). */
  storeText(k: number, text: string): void {
    const bytes = new TextEncoder().encode(text);
    this.store(k, bytes, 0, bytes.length);
  }
}

/** The dictionaries of the "dictionary" columns among `columns`. */
export function dictionariesFor(columns: Record<string, CsvColumnSpec>): Map<string, Dictionary> {
  return new Map(
    Object.entries(columns).filter(([, s]) => s.type === "dictionary").map(([n]) => [n, new Dictionary()]),
  );
}

/**
 * Opens a CSV with a header line for reading the named columns (others are skipped). A required column that
 * the header lacks is refused here; cells that do not parse as their type, or fall outside the range the spec
 * gives, are refused as they are read, naming file, line and value.
 */
export async function openCsv(
  path: string,
  columns: Record<string, CsvColumnSpec>,
  options: CsvOptions = {},
): Promise<CsvReader> {
  const line = await readHeaderLine(path);
  if (line.trim() === "") throw new EngramError(`${path}: empty CSV; expected a header line of column names`);
  const header = splitHeader(path, line);
  for (const [name, spec] of Object.entries(columns)) {
    if (!spec.optional && !header.includes(name)) {
      throw new EngramError(
        `${path}: no "${name}" column (the header has ${header.join(", ")}); add it or pass another file`,
      );
    }
  }
  const dictionaries = dictionariesFor(columns);
  return {
    path,
    header,
    has: (name) => header.includes(name),
    dictionary: (name) => dictionaries.get(name)?.values ?? [],
    batches: () => csvBatches(path, header, columns, dictionaries, options),
  };
}

async function* csvBatches(
  path: string,
  header: string[],
  specs: Record<string, CsvColumnSpec>,
  dictionaries: Map<string, Dictionary>,
  options: CsvOptions,
): AsyncGenerator<CsvBatch> {
  const nFields = header.length;
  const names = header.filter((n) => Object.hasOwn(specs, n));
  // Field f of a record goes to slot[f] of the builder (-1: not wanted).
  const slot = header.map((n) => names.indexOf(n));
  const out = new ColumnBuilder(
    path,
    names,
    names.map((n) => specs[n]),
    names.map((n) => dictionaries.get(n) ?? null),
    options.batchRows ?? 1 << 20,
    options.reuse,
    options.expectRows,
  );
  const full = out.batchRows;
  let firstRow = 1;
  let headerSkipped = false;

  const slots = Int32Array.from(slot);

  /**
   * Parses whole records of b[pos, end) into the batch until it is full; returns where it stopped (at the
   * start of a record that continues past `end`, unless `last`).
   */
  const parse = (b: Uint8Array, pos: number, end: number, last: boolean): number => {
    while (pos < end && out.r < full) {
      const start = pos;
      let lines = 0;
      if (b[pos] === LF || (b[pos] === CR && b[pos + 1] === LF)) {
        pos += b[pos] === LF ? 1 : 2; // blank line
        out.line++;
        continue;
      }
      out.room();
      let f = 0;
      for (;;) {
        let s = pos, e: number, unescape = false;
        if (b[pos] === QUOTE) {
          let q = pos + 1;
          for (;;) {
            while (q < end && b[q] !== QUOTE) {
              if (b[q] === LF) lines++;
              q++;
            }
            if (q + 1 < end && b[q + 1] === QUOTE) {
              unescape = true;
              q += 2;
              continue;
            }
            break;
          }
          if (q >= end || (q + 1 >= end && !last)) {
            if (!last) return start;
            out.fail("a quoted cell is not closed before the end of the file");
          }
          s = pos + 1;
          e = q;
          pos = q + 1;
          if (pos < end && b[pos] === CR) pos++;
          if (pos < end && b[pos] !== COMMA && b[pos] !== LF) out.fail("text after a closing quote");
        } else {
          while (pos < end && b[pos] !== COMMA && b[pos] !== LF) pos++;
          if (pos === end && !last) return start;
          e = pos;
        }
        const k = f < nFields ? slots[f] : -1;
        if (k >= 0) {
          if (unescape) out.storeText(k, decoder.decode(b.subarray(s, e)).replaceAll('""', '"'));
          else out.store(k, b, s, e);
        }
        f++;
        if (pos < end && b[pos] === COMMA) {
          pos++;
          if (pos === end && !last) return start;
          continue;
        }
        if (pos < end) pos++; // the line feed
        break;
      }
      if (f !== nFields) out.fail(`${f} cells but the header has ${nFields} columns`);
      out.line += 1 + lines;
      out.r++;
    }
    return pos;
  };

  const stream = await ByteStream.open(path, options.chunkBytes ?? 8 << 20, options.observe);
  try {
    let pos = 0;
    while (!stream.done) {
      const b = await stream.next(pos);
      pos = 0;
      if (!headerSkipped) {
        const nl = b.indexOf(LF);
        if (nl < 0) continue;
        pos = nl + 1;
        headerSkipped = true;
        out.line = 2;
      }
      for (;;) {
        pos = parse(b, pos, b.length, stream.done);
        if (out.r < full) break;
        const batch = out.take(firstRow);
        firstRow += batch.length;
        yield batch;
      }
    }
  } finally {
    stream.close();
  }
  if (out.r > 0) yield out.take(firstRow);
}
