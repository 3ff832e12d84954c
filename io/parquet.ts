// Parquet read and written a row group at a time, so files of any length stream in bounded memory.
//
// Reading (positioned reads of the file, FileBytes): the footer, then each row group's flat numeric and boolean
// columns decoded here from their pages (PLAIN, dictionary, DELTA_BINARY_PACKED; uncompressed, Snappy through
// hyparquet's decompressor, or GZIP, ZSTD, Brotli, LZ4 through hyparquet-compressors'; data pages v1 and v2)
// into Float64Array, NaN for null. Other encodings are read by hyparquet for that row group and column, so
// engram's own files need no npm package. The stored type's logical type is applied (DECIMAL of INT32, INT64 or
// a fixed-length byte array; signed and unsigned integers of 8 to 64 bits); a column of anything else (strings,
// timestamps, dates) is refused naming it and its type, as is a codec no package here reads (LZO). Corrupt bytes
// are one EngramError line naming file, row group and column.
//
// Writing: flat columns (INT64, INT32, DOUBLE, BOOLEAN; REQUIRED or OPTIONAL), uncompressed, one data page (v1)
// per column per row group: INT64 as DELTA_BINARY_PACKED (PLAIN when deltas need more than 32 bits), columns
// with a small fixed dictionary as RLE_DICTIONARY, the rest PLAIN.
import type { FileMetaData } from "hyparquet";
import { EngramError } from "../base/errors.ts";
import { BatchArrays } from "./arrays.ts";
import type { AtomicFile } from "../base/atomic.ts";
import { FileBytes } from "./files.ts";
import { importLazily } from "../base/lazy.ts";
import { CompactWriter, readStruct, type ThriftStruct, ThriftType } from "./thrift.ts";

export type ParquetType = "INT64" | "INT32" | "DOUBLE" | "BOOLEAN";

/** Parquet's numbering of the things this module writes and reads. */
const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5 } as const;
const ENC = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, DELTA_BINARY_PACKED: 5, RLE_DICTIONARY: 8 } as const;
const PAGE = { DATA: 0, INDEX: 1, DICTIONARY: 2, DATA_V2: 3 } as const;
const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"

/** Thrown by the fast decoder for what it leaves to hyparquet. */
class Unsupported extends Error {}

// ---------------------------------------------------------------------------------------------- bit packing

/** Reads bytes from a buffer, failing (as corrupt data) rather than reading past its end. */
class Bytes {
  pos: number;
  constructor(readonly b: Uint8Array, start = 0, readonly end = b.length) {
    this.pos = start;
  }
  need(n: number): void {
    if (this.pos + n > this.end) throw new Error("page data ends early");
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  u32(): number {
    this.need(4);
    const b = this.b, p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }
  varint(): number {
    let v = 0, scale = 1;
    for (;;) {
      const x = this.u8();
      v += (x & 127) * scale;
      if (x < 128) return v;
      scale *= 128;
      if (scale > 2 ** 56) throw new Error("varint too long");
    }
  }
  zigzag(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
}

/** Unpacks `n` values of `width` bits (LSB first, as Parquet packs them) into out[at..]. */
function unpack(r: Bytes, width: number, n: number, out: Uint32Array, at: number): void {
  const bytes = Math.ceil((n * width) / 8);
  r.need(bytes);
  const b = r.b;
  let p = r.pos;
  r.pos += bytes;
  if (width === 0) {
    out.fill(0, at, at + n);
    return;
  }
  if (width <= 24) {
    const mask = (1 << width) - 1;
    // Value k's bits lie in the 4 bytes from bit k·width on (a shift ≤ 7 plus ≤ 24 bits): one read each, for
    // as many values (a multiple of 8, so the rest start on a byte) as have 4 bytes left in the buffer.
    const fast = Math.max(0, Math.min(n, Math.floor(((b.length - 3 - p) * 8) / width))) & ~7;
    for (let k = 0, bit = 0; k < fast; k++, bit += width) {
      const q = p + (bit >>> 3);
      out[at + k] = ((b[q] | (b[q + 1] << 8) | (b[q + 2] << 16) | (b[q + 3] << 24)) >>> (bit & 7)) & mask;
    }
    p += (fast * width) / 8;
    let acc = 0, bits = 0;
    for (let k = fast; k < n; k++) {
      while (bits < width) {
        acc |= b[p++] << bits;
        bits += 8;
      }
      out[at + k] = acc & mask;
      acc >>>= width;
      bits -= width;
    }
    return;
  }
  let acc = 0, bits = 0;
  for (let k = 0; k < n; k++) {
    while (bits < width) {
      acc += b[p++] * 2 ** bits;
      bits += 8;
    }
    const v = acc % 2 ** width;
    out[at + k] = v;
    acc = (acc - v) / 2 ** width;
    bits -= width;
  }
}

/** Packs values[0..n) in `width` bits each, LSB first, padded to whole bytes. */
function pack(values: ArrayLike<number>, n: number, width: number, out: Uint8Array, at: number): number {
  const bytes = Math.ceil((n * width) / 8);
  if (width === 0) return at;
  out.fill(0, at, at + bytes);
  if (width <= 24) {
    let acc = 0, bits = 0, p = at;
    for (let k = 0; k < n; k++) {
      acc |= values[k] << bits;
      bits += width;
      while (bits >= 8) {
        out[p++] = acc & 255;
        acc >>>= 8;
        bits -= 8;
      }
    }
    if (bits > 0) out[p] = acc & 255;
    return at + bytes;
  }
  let acc = 0, bits = 0, p = at;
  for (let k = 0; k < n; k++) {
    acc += values[k] * 2 ** bits;
    bits += width;
    while (bits >= 8) {
      out[p++] = acc % 256;
      acc = Math.floor(acc / 256);
      bits -= 8;
    }
  }
  if (bits > 0) out[p] = acc % 256;
  return at + bytes;
}

let scratchIndices = new Uint32Array(0);

/** A buffer of at least n indices, reused from page to page (a fresh one per page cost page faults). */
function scratch(n: number): Uint32Array {
  if (scratchIndices.length < n) scratchIndices = new Uint32Array(n);
  return scratchIndices;
}

/** Reads `n` values of Parquet's RLE/bit-packed hybrid encoding into out[0..n). */
function readHybrid(r: Bytes, width: number, n: number, out: Uint32Array): void {
  let k = 0;
  while (k < n) {
    const h = r.varint();
    if (h & 1) {
      const count = Math.floor(h / 2) * 8;
      if (count === 0) throw new Error("empty bit-packed run");
      if (k + count <= n) unpack(r, width, count, out, k);
      else {
        const tmp = new Uint32Array(count);
        unpack(r, width, count, tmp, 0);
        out.set(tmp.subarray(0, n - k), k);
      }
      k += count;
    } else {
      const count = Math.floor(h / 2);
      if (count === 0) throw new Error("empty RLE run");
      let v = 0;
      for (let j = 0, bytes = Math.ceil(width / 8); j < bytes; j++) v += r.u8() * 2 ** (8 * j);
      out.fill(v, k, Math.min(n, k + count));
      k += count;
    }
  }
}

/** Bytes needed to write `n` values in the hybrid encoding (bit-packed runs of at most 504 values). */
const hybridBytes = (n: number, width: number) => Math.ceil(n / 504) + Math.ceil(Math.ceil(n / 8) * width);

/** Writes values[0..n) as bit-packed runs of at most 63 groups of 8 (a one-byte header each, as most do). */
function writeHybrid(
  values: ArrayLike<number>,
  n: number,
  width: number,
  out: Uint8Array,
  at: number,
): number {
  const run = new Uint32Array(504);
  for (let k = 0; k < n; k += 504) {
    const m = Math.min(504, n - k), groups = Math.ceil(m / 8);
    out[at++] = (groups << 1) | 1;
    for (let j = 0; j < m; j++) run[j] = values[k + j];
    run.fill(0, m, groups * 8);
    at = pack(run, groups * 8, width, out, at);
  }
  return at;
}

// --------------------------------------------------------------------------------------------------- reading

/** A flat column of a row group, decoded: numbers (booleans as 0/1), NaN for null. */
export interface ParquetColumnBatch {
  /** Rows in this batch (one row group). */
  length: number;
  /** The batch's first row in the file. */
  rowStart: number;
  columns: Map<string, Float64Array>;
}

interface ColumnInfo {
  name: string;
  type: string;
  optional: boolean;
  flat: boolean;
  /** How stored values become numbers (their logical type), or why they cannot (a message's words). */
  numeric: NumericKind | { refused: string };
}

/**
 * What a stored value means as a number: as stored (booleans, floats, signed integers of any width: Parquet
 * stores INT(8) and INT(16) sign-extended in INT32), unsigned (INT32 or INT64 bits read as unsigned), or
 * DECIMAL (an integer, or a big-endian two's-complement byte array of `length` bytes, over 10^scale).
 */
type NumericKind =
  | { kind: "plain" }
  | { kind: "unsigned"; bits: 32 | 64 }
  | { kind: "decimal"; scale: number; length: number; converted: boolean };

/** A schema element's types, as the footer holds them. */
interface SchemaTypes {
  type: string;
  typeLength: number | null;
  convertedType: number | null;
  scale: number | null;
  logicalType: ThriftStruct | null;
}

/** Parquet's ConvertedType numbering (parquet.thrift). */
const CONVERTED_NAMES = [
  "UTF8",
  "MAP",
  "MAP_KEY_VALUE",
  "LIST",
  "ENUM",
  "DECIMAL",
  "DATE",
  "TIME_MILLIS",
  "TIME_MICROS",
  "TIMESTAMP_MILLIS",
  "TIMESTAMP_MICROS",
  "UINT_8",
  "UINT_16",
  "UINT_32",
  "UINT_64",
  "INT_8",
  "INT_16",
  "INT_32",
  "INT_64",
  "JSON",
  "BSON",
  "INTERVAL",
];
/** LogicalType's union members by field id (parquet.thrift). */
const LOGICAL_NAMES: Record<number, string> = {
  1: "STRING",
  2: "MAP",
  3: "LIST",
  4: "ENUM",
  5: "DECIMAL",
  6: "DATE",
  7: "TIME",
  8: "TIMESTAMP",
  10: "INTEGER",
  11: "NULL",
  12: "JSON",
  13: "BSON",
  14: "UUID",
  15: "FLOAT16",
  16: "VARIANT",
  17: "GEOMETRY",
  18: "GEOGRAPHY",
};

/** How a flat column's stored values read as numbers, from its physical, converted and logical types. */
function numericKind(t: SchemaTypes): NumericKind | { refused: string } {
  const logicalId = t.logicalType ? Number(Object.keys(t.logicalType)[0]) : null;
  const logical = logicalId === null ? null : LOGICAL_NAMES[logicalId] ?? `logical type ${logicalId}`;
  const converted = t.convertedType === null
    ? null
    : CONVERTED_NAMES[t.convertedType] ?? `converted type ${t.convertedType}`;
  const refuse = () => ({
    refused: `${t.type}${logical ?? converted ? ` (${logical ?? converted})` : ""}`,
  });
  if (logical === "DECIMAL" || converted === "DECIMAL") {
    const d = logical === "DECIMAL" ? t.logicalType![5] as ThriftStruct : null;
    const scale = (d?.[1] as number | undefined) ?? t.scale ?? 0;
    if (!(scale >= 0 && scale <= 22)) return refuse(); // 10^scale exact: a correctly rounded quotient
    if (t.type === "INT32" || t.type === "INT64") {
      return { kind: "decimal", scale, length: 0, converted: converted === "DECIMAL" };
    }
    if (t.type === "FIXED_LEN_BYTE_ARRAY" && t.typeLength !== null && t.typeLength >= 1) {
      return { kind: "decimal", scale, length: t.typeLength, converted: converted === "DECIMAL" };
    }
    return refuse();
  }
  if (logical === "INTEGER") {
    const i = t.logicalType![10] as ThriftStruct;
    if (t.type !== "INT32" && t.type !== "INT64") return refuse();
    return i[2] === false ? { kind: "unsigned", bits: t.type === "INT32" ? 32 : 64 } : { kind: "plain" };
  }
  if (logical === null && (converted === null || /^U?INT_/.test(converted))) {
    if (!["BOOLEAN", "INT32", "INT64", "FLOAT", "DOUBLE"].includes(t.type)) return refuse();
    if (converted?.startsWith("UINT_") && (t.type === "INT32" || t.type === "INT64")) {
      return { kind: "unsigned", bits: t.type === "INT32" ? 32 : 64 };
    }
    if (converted !== null && t.type !== "INT32" && t.type !== "INT64") return refuse();
    return { kind: "plain" };
  }
  return refuse();
}

/** 10^k for 0 ≤ k ≤ 22, exactly (parsed, not computed by pow). */
const powerOfTen = (k: number) => Number(`1e${k}`);

/** Applies a column's logical type to values decoded as stored (NaN: null stays NaN). */
function applyNumeric(kind: NumericKind, out: Float64Array): void {
  if (kind.kind === "unsigned") {
    const wrap = 2 ** kind.bits;
    for (let i = 0; i < out.length; i++) if (out[i] < 0) out[i] += wrap;
  } else if (kind.kind === "decimal") {
    // A quotient of two exact doubles is correctly rounded: the double nearest the decimal (3 / 10 is 0.3;
    // 3 * 0.1 is not).
    const p = powerOfTen(kind.scale);
    for (let i = 0; i < out.length; i++) out[i] /= p;
  }
}

/** A big-endian two's-complement integer of bytes [p, p + n) (a DECIMAL's unscaled value), nearest double. */
function bigEndianInteger(b: Uint8Array, p: number, n: number): number {
  if (n <= 6) {
    let v = 0;
    for (let k = 0; k < n; k++) v = v * 256 + b[p + k];
    return b[p] >= 128 ? v - 2 ** (8 * n) : v;
  }
  let v = 0n;
  for (let k = 0; k < n; k++) v = (v << 8n) | BigInt(b[p + k]);
  return Number(BigInt.asIntN(8 * n, v));
}

/** The parts of a column chunk's metadata that reading needs. */
interface ChunkMeta {
  path: string;
  codec: string;
  dataPageOffset: number;
  dictionaryPageOffset: number | null;
  compressedSize: number;
}

/** The parts of a Parquet footer that reading needs (decoded here: no npm package for engram's own files). */
export interface ParquetFooter {
  rows: number;
  schema: ({ name: string; repetition: string; children: number } & SchemaTypes)[];
  groups: { rows: number; columns: ChunkMeta[] }[];
  keyValue: Map<string, string>;
}

const TYPE_NAMES = [
  "BOOLEAN",
  "INT32",
  "INT64",
  "INT96",
  "FLOAT",
  "DOUBLE",
  "BYTE_ARRAY",
  "FIXED_LEN_BYTE_ARRAY",
];
const REPETITION_NAMES = ["REQUIRED", "OPTIONAL", "REPEATED"];
const CODEC_NAMES = ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"];
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);

/** Decodes a footer (FileMetaData, compact protocol) into what reading needs; throws on bad bytes. */
function decodeFooter(bytes: Uint8Array): ParquetFooter {
  const { value: m } = readStruct(bytes, 0);
  const num = (v: unknown, what: string) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new Error(`bad ${what} in the footer`);
    }
    return v;
  };
  const list = (v: unknown, what: string) => {
    if (!Array.isArray(v)) throw new Error(`no ${what} in the footer`);
    return v as ThriftStruct[];
  };
  return {
    rows: num(m[3], "row count"),
    schema: list(m[2], "schema").map((el) => ({
      name: text(el[4]),
      type: el[1] === undefined ? "GROUP" : TYPE_NAMES[el[1] as number] ?? `type ${el[1]}`,
      typeLength: typeof el[2] === "number" ? el[2] : null,
      repetition: REPETITION_NAMES[(el[3] as number) ?? 0] ?? "REQUIRED",
      children: (el[5] as number) ?? 0,
      convertedType: typeof el[6] === "number" ? el[6] : null,
      scale: typeof el[7] === "number" ? el[7] : null,
      logicalType: typeof el[10] === "object" && el[10] !== null && !(el[10] instanceof Uint8Array) &&
          Object.keys(el[10]).length > 0
        ? el[10] as ThriftStruct
        : null,
    })),
    groups: list(m[4], "row groups").map((g) => ({
      rows: num(g[3], "row group size"),
      columns: list(g[1], "column chunks").map((c) => {
        const meta = c[3] as ThriftStruct | undefined;
        if (!meta) throw new Error("a column chunk without metadata");
        return {
          path: list(meta[3], "column path").map(text).join("."),
          codec: CODEC_NAMES[meta[4] as number] ?? `codec ${meta[4]}`,
          dataPageOffset: num(meta[9], "page offset"),
          dictionaryPageOffset: meta[11] === undefined ? null : num(meta[11], "dictionary offset"),
          compressedSize: num(meta[7], "column chunk size"),
        };
      }),
    })),
    keyValue: new Map(
      ((m[5] ?? []) as ThriftStruct[]).map((kv) => [text(kv[1]), kv[2] === undefined ? "" : text(kv[2])]),
    ),
  };
}

/** A Parquet file's footer, and its columns read a row group at a time. */
export class ParquetFile {
  private hyparquetMetadata: FileMetaData | null = null;

  private constructor(
    readonly path: string,
    readonly footer: ParquetFooter,
    private readonly byteLength: number,
    private readonly info: Map<string, ColumnInfo>,
  ) {}

  static async open(path: string): Promise<ParquetFile> {
    const file = await FileBytes.open(path);
    try {
      let footer: ParquetFooter;
      try {
        const size = file.byteLength;
        if (size < 12) throw new Error(`${size} bytes is too short`);
        const tail = new Uint8Array(await file.slice(size - 8, size));
        const length = new DataView(tail.buffer).getUint32(0, true);
        if (String.fromCharCode(...tail.subarray(4)) !== "PAR1") throw new Error("no PAR1 at its end");
        if (length > size - 12) throw new Error(`footer length ${length} past the start of the file`);
        footer = decodeFooter(new Uint8Array(await file.slice(size - 8 - length, size - 8)));
      } catch (e) {
        if (e instanceof EngramError) throw e;
        throw new EngramError(`${path}: not a readable Parquet file (${(e as Error).message})`);
      }
      const info = new Map<string, ColumnInfo>();
      const schema = footer.schema;
      for (let i = 1; i < schema.length;) {
        // Top-level fields in order; a field with children spans them (it is nested: not flat).
        const el = schema[i];
        let span = 1, pending = el.children;
        while (pending > 0) {
          if (i + span >= schema.length) {
            throw new EngramError(`${path}: not a readable Parquet file (its schema ends early)`);
          }
          pending += schema[i + span].children - 1;
          span++;
        }
        const flat = el.children === 0 && el.repetition !== "REPEATED";
        info.set(el.name, {
          name: el.name,
          type: el.type,
          optional: el.repetition === "OPTIONAL",
          flat,
          numeric: flat ? numericKind(el) : { refused: "nested values" },
        });
        i += span;
      }
      return new ParquetFile(path, footer, file.byteLength, info);
    } finally {
      file.close();
    }
  }

  /** Rows in the file (from its footer). */
  get rows(): number {
    return this.footer.rows;
  }

  /** Top-level column names, in schema order. */
  get columnNames(): string[] {
    return [...this.info.keys()];
  }

  /** A key-value metadata entry of the footer. */
  keyValue(key: string): string | undefined {
    return this.footer.keyValue.get(key);
  }

  /**
   * The named columns, one row group at a time, in file order (numbers and booleans only). With `reuse`, each
   * batch's arrays are overwritten by the next batch (fresh arrays for every row group cost more than
   * decoding them: new memory is paid page by page); without it every batch has arrays of its own.
   */
  async *batches(columns: string[], options: { reuse?: boolean } = {}): AsyncGenerator<ParquetColumnBatch> {
    for (const name of columns) {
      const c = this.info.get(name);
      if (!c) {
        throw new EngramError(`${this.path}: no column "${name}" (has ${this.columnNames.join(", ")})`);
      }
      if ("refused" in c.numeric) {
        throw new EngramError(
          `${this.path}: column "${name}" holds ${c.numeric.refused} values, not numbers (engram reads ` +
            `booleans, integers, floats and decimals); write it as a number`,
        );
      }
    }
    const file = await FileBytes.open(this.path);
    try {
      if (file.byteLength !== this.byteLength) {
        throw new EngramError(`${this.path} changed while it was being read; read it again`);
      }
      let rowStart = 0;
      const arrays = new BatchArrays(options.reuse ?? false);
      for (let g = 0; g < this.footer.groups.length; g++) {
        const group = this.footer.groups[g];
        const out = new Map<string, Float64Array>();
        for (const name of columns) {
          const chunk = group.columns.find((c) => c.path === name);
          if (!chunk) throw new EngramError(`${this.path}: row group ${g} has no column "${name}"`);
          const values = arrays.get(name, group.rows, Float64Array);
          await this.readChunk(file, g, rowStart, values, this.info.get(name)!, chunk);
          out.set(name, values);
        }
        yield { length: group.rows, rowStart, columns: out };
        rowStart += group.rows;
      }
    } finally {
      file.close();
    }
  }

  /** Decodes a column chunk into `out` (one value a row of the group), its logical type applied. */
  private async readChunk(
    file: FileBytes,
    g: number,
    rowStart: number,
    out: Float64Array,
    col: ColumnInfo,
    meta: ChunkMeta,
  ): Promise<void> {
    const where = `row group ${g}, column "${col.name}"`;
    const kind = col.numeric as NumericKind; // (`batches` refused the others)
    if (!READ_CODECS.includes(meta.codec)) {
      throw new EngramError(
        `${this.path}: ${where} is compressed with ${meta.codec}, which engram cannot read (it reads ` +
          `${READ_CODECS.join(", ")}); write the file again with one of those (e.g. ZSTD)`,
      );
    }
    try {
      const dict = meta.dictionaryPageOffset ?? Infinity;
      const start = Math.min(dict > 0 ? dict : Infinity, meta.dataPageOffset);
      const size = meta.compressedSize;
      if (!(start >= 4 && start + size <= this.byteLength - 8)) {
        throw new Error(`column chunk [${start}, ${start + size}) lies outside the file`);
      }
      const bytes = new Uint8Array(await file.slice(start, start + size));
      try {
        await decodeChunk(bytes, col, kind, meta.codec, out);
        applyNumeric(kind, out);
        return;
      } catch (e) {
        if (!(e instanceof Unsupported)) throw e;
      }
      return await this.readWithHyparquet(file, rowStart, out, col, kind);
    } catch (e) {
      if (e instanceof EngramError) throw e;
      throw new EngramError(
        `${this.path}: corrupt or unreadable Parquet data (${where}: ${(e as Error).message}); ` +
          `the file is damaged: write it again`,
      );
    }
  }

  /** Encodings this module does not decode: hyparquet reads them (loaded only then). */
  private async readWithHyparquet(
    file: FileBytes,
    rowStart: number,
    out: Float64Array,
    col: ColumnInfo,
    kind: NumericKind,
  ) {
    const { parquetMetadataAsync, parquetRead } = await importLazily<typeof import("hyparquet")>("hyparquet");
    const { compressors } = await importLazily<typeof import("hyparquet-compressors")>(
      "hyparquet-compressors",
    );
    this.hyparquetMetadata ??= await parquetMetadataAsync(file);
    const n = out.length;
    out.fill(NaN);
    // hyparquet applies DECIMAL when the converted type says it (not for a logical type alone) and unsigned
    // types of 32 and 64 bits (narrower ones are stored non-negative).
    const decimal = kind.kind === "decimal" ? kind : null;
    const divisor = decimal && !decimal.converted ? powerOfTen(decimal.scale) : 1;
    await parquetRead({
      file,
      metadata: this.hyparquetMetadata,
      columns: [col.name],
      rowStart,
      rowEnd: rowStart + n,
      compressors,
      onChunk: ({ columnData, rowStart: at }) => {
        for (let i = 0; i < columnData.length; i++) {
          const v = columnData[i];
          out[at - rowStart + i] = v === null || v === undefined
            ? NaN
            : v instanceof Uint8Array && decimal
            ? bigEndianInteger(v, 0, v.length) / powerOfTen(decimal.scale)
            : Number(v) / divisor;
        }
      },
    });
    if (kind.kind === "unsigned") applyNumeric(kind, out);
  }
}

/** The codecs read here: Snappy by hyparquet, the rest by hyparquet-compressors. */
const READ_CODECS = ["UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "BROTLI", "LZ4", "LZ4_RAW"];

/** A page decompressor of `codec` (null: uncompressed), checked to give the page's size. */
async function decompressor(codec: string): Promise<((data: Uint8Array, size: number) => Uint8Array) | null> {
  if (codec === "UNCOMPRESSED") return null;
  let inflate: (data: Uint8Array, size: number) => Uint8Array;
  if (codec === "SNAPPY") {
    const { snappyUncompress } = await importLazily<typeof import("hyparquet")>("hyparquet");
    inflate = (data, size) => {
      const o = new Uint8Array(size);
      snappyUncompress(data, o);
      return o;
    };
  } else {
    const { compressors } = await importLazily<typeof import("hyparquet-compressors")>(
      "hyparquet-compressors",
    );
    const named = compressors[codec as keyof typeof compressors];
    if (!named) throw new Unsupported();
    inflate = named;
  }
  return (data, size) => {
    const o = inflate(data, size);
    if (o.length !== size) {
      throw new Error(`a page decompressed to ${o.length} bytes, its header says ${size}`);
    }
    return o;
  };
}

/** Decodes one column chunk's pages into out (NaN for null). */
async function decodeChunk(
  bytes: Uint8Array,
  col: ColumnInfo,
  kind: NumericKind,
  codec: string,
  out: Float64Array,
): Promise<void> {
  // Fixed-length byte arrays only as decimals (`length` bytes each); other types are not numbers.
  const length = kind.kind === "decimal" ? kind.length : 0;
  if (!["BOOLEAN", "INT32", "INT64", "FLOAT", "DOUBLE", "FIXED_LEN_BYTE_ARRAY"].includes(col.type)) {
    throw new Unsupported();
  }
  const decompress = await decompressor(codec);
  const n = out.length;
  let dictionary: Float64Array | null = null;
  let filled = 0, pos = 0;
  while (filled < n) {
    if (pos >= bytes.length) throw new Error(`the pages hold ${filled} of ${n} values`);
    const { value: h, end } = readStruct(bytes, pos);
    const type = h[1] as number, compressed = h[3] as number, uncompressed = h[2] as number;
    if (!(compressed >= 0 && end + compressed <= bytes.length)) throw new Error("page size past the chunk");
    let body = bytes.subarray(end, end + compressed);
    pos = end + compressed;
    const inflate = (data: Uint8Array, size: number) => decompress ? decompress(data, size) : data;
    if (type === PAGE.DICTIONARY) {
      const d = h[7] as ThriftStruct;
      body = inflate(body, uncompressed);
      dictionary = new Float64Array(d[1] as number);
      if ((d[2] as number) !== ENC.PLAIN && (d[2] as number) !== ENC.PLAIN_DICTIONARY) {
        throw new Unsupported();
      }
      readPlain(new Bytes(body), col.type, dictionary.length, dictionary, length);
    } else if (type === PAGE.DATA || type === PAGE.DATA_V2) {
      let count: number, encoding: number, defined: Uint32Array | null = null;
      let r: Bytes;
      if (type === PAGE.DATA) {
        const d = h[5] as ThriftStruct;
        count = d[1] as number;
        encoding = d[2] as number;
        body = inflate(body, uncompressed);
        r = new Bytes(body);
        if (col.optional) {
          if ((d[3] as number) !== ENC.RLE) throw new Unsupported();
          const len = r.u32();
          r.need(len);
          defined = definitionLevels(new Bytes(body, r.pos, r.pos + len), count);
          r.pos += len;
        }
      } else {
        const d = h[8] as ThriftStruct;
        count = d[1] as number;
        encoding = d[4] as number;
        const defLen = d[5] as number, repLen = (d[6] as number) ?? 0;
        if (repLen) throw new Unsupported();
        if (col.optional) defined = definitionLevels(new Bytes(body, 0, defLen), count);
        const values = body.subarray(defLen);
        r = new Bytes(d[7] === false ? values : inflate(values, uncompressed - defLen));
      }
      if (filled + count > n) throw new Error(`the pages hold more than the row group's ${n} values`);
      readValues(r, col.type, encoding, count, out, filled, defined, dictionary, length);
      filled += count;
    } else if (type !== PAGE.INDEX) throw new Error(`unknown page type ${type}`);
  }
}

/**
 * A flat OPTIONAL column's definition levels (1: a value, 0: null), or ALL_DEFINED when one run says every
 * slot has a value (the common case, read as if the column were REQUIRED).
 */
function definitionLevels(r: Bytes, count: number): Uint32Array | null {
  const start = r.pos;
  const h = r.varint();
  if (!(h & 1) && Math.floor(h / 2) >= count && r.pos < r.end && r.b[r.pos] === 1) return null;
  r.pos = start;
  const defined = new Uint32Array(count);
  readHybrid(r, 1, count, defined);
  return defined;
}

/** Decodes `count` slots into out[at..]: values where `defined` (all when null), NaN elsewhere. */
function readValues(
  r: Bytes,
  type: string,
  encoding: number,
  count: number,
  out: Float64Array,
  at: number,
  defined: Uint32Array | null,
  dictionary: Float64Array | null,
  length: number,
): void {
  let present = count;
  if (defined) {
    present = 0;
    for (let i = 0; i < count; i++) present += defined[i];
  }
  const values = defined ? new Float64Array(present) : out.subarray(at, at + count);
  if (encoding === ENC.PLAIN) readPlain(r, type, present, values, length);
  else if (encoding === ENC.RLE_DICTIONARY || encoding === ENC.PLAIN_DICTIONARY) {
    if (!dictionary) throw new Error("dictionary-encoded page without a dictionary");
    const width = present ? r.u8() : 0;
    if (width > 32) throw new Error(`dictionary index width ${width}`);
    const idx = scratch(present);
    readHybrid(r, width, present, idx);
    const size = dictionary.length;
    for (let i = 0; i < present; i++) {
      const k = idx[i];
      if (k >= size) throw new Error(`dictionary index ${k} of ${size}`);
      values[i] = dictionary[k];
    }
  } else if (encoding === ENC.DELTA_BINARY_PACKED && (type === "INT32" || type === "INT64")) {
    readDelta(r, present, values);
  } else throw new Unsupported();
  if (defined) {
    for (let i = 0, k = 0; i < count; i++) out[at + i] = defined[i] ? values[k++] : NaN;
  }
}

/** n PLAIN values of `type` into out[0..n) (FIXED_LEN_BYTE_ARRAY: `length`-byte decimals, unscaled). */
function readPlain(r: Bytes, type: string, n: number, out: Float64Array, length = 0): void {
  const b = r.b;
  if (type === "FIXED_LEN_BYTE_ARRAY") {
    if (length < 1) throw new Unsupported();
    r.need(n * length);
    for (let i = 0, p = r.pos; i < n; i++, p += length) out[i] = bigEndianInteger(b, p, length);
    r.pos += n * length;
    return;
  }
  if (type === "BOOLEAN") {
    r.need(Math.ceil(n / 8));
    const p = r.pos;
    for (let i = 0; i < n; i++) out[i] = (b[p + (i >> 3)] >> (i & 7)) & 1;
    r.pos += Math.ceil(n / 8);
    return;
  }
  const size = type === "INT64" || type === "DOUBLE" ? 8 : 4;
  r.need(n * size);
  const offset = b.byteOffset + r.pos;
  if (type === "INT64" && offset % 4 === 0) { // words read as words (DataView reads cost twice as much)
    const words = new Int32Array(b.buffer, offset, 2 * n);
    for (let i = 0; i < n; i++) out[i] = (words[2 * i] >>> 0) + words[2 * i + 1] * 2 ** 32;
    r.pos += n * size;
    return;
  }
  const dv = new DataView(b.buffer, offset, n * size);
  if (type === "INT32") { for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true); }
  else if (type === "FLOAT") { for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true); }
  else if (type === "DOUBLE") { for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); }
  else if (type === "INT64") {
    for (let i = 0; i < n; i++) out[i] = dv.getUint32(8 * i, true) + dv.getInt32(8 * i + 4, true) * 2 ** 32;
  } else throw new Unsupported();
  r.pos += n * size;
}

/** DELTA_BINARY_PACKED (miniblock widths up to 32 bits here; wider ones are left to hyparquet). */
function readDelta(r: Bytes, n: number, out: Float64Array): void {
  const blockSize = r.varint(), miniblocks = r.varint(), total = r.varint();
  let v = r.zigzag();
  if (total !== n) throw new Error(`delta header says ${total} values, the page ${n}`);
  const per = blockSize / miniblocks;
  if (!(per > 0 && per % 8 === 0 && miniblocks <= 256)) throw new Error("bad delta block header");
  if (n === 0) return;
  out[0] = v;
  let k = 1;
  const deltas = new Uint32Array(per);
  const widths = new Uint8Array(miniblocks);
  while (k < n) {
    const minDelta = r.zigzag();
    for (let m = 0; m < miniblocks; m++) widths[m] = r.u8();
    for (let m = 0; m < miniblocks && k < n; m++) {
      if (widths[m] === 0) { // every delta = minDelta (1 for consecutive rows: most of a results file)
        for (let j = 0; j < per && k < n; j++) out[k++] = v += minDelta;
        continue;
      }
      if (widths[m] > 32) throw new Unsupported();
      unpack(r, widths[m], per, deltas, 0);
      for (let j = 0; j < per && k < n; j++) {
        v += minDelta + deltas[j];
        out[k++] = v;
      }
    }
  }
}

// --------------------------------------------------------------------------------------------------- writing

/** One column of a file written by ParquetWriter. */
export interface ParquetColumnSpec {
  name: string;
  type: ParquetType;
  optional: boolean;
  /** Values given as indices into this dictionary (RLE_DICTIONARY); else values are given as they are. */
  dictionary?: ArrayLike<number>;
}

/** One column's values for a row group: values, or dictionary indices, or null (all null: OPTIONAL only). */
export type ColumnValues = ArrayLike<number> | null;

interface ChunkRecord {
  offset: number;
  dictionaryOffset: number | null;
  dataOffset: number;
  bytes: number;
  values: number;
  encodings: number[];
  min?: number;
  max?: number;
  nulls: number;
}

/** Writes a Parquet file row group by row group to an AtomicFile (which `finish` leaves to the caller to commit). */
export class ParquetWriter {
  private readonly groups: { rows: number; offset: number; bytes: number; chunks: ChunkRecord[] }[] = [];
  private rows = 0;
  private started = false;

  constructor(
    private readonly out: AtomicFile,
    private readonly columns: ParquetColumnSpec[],
    private readonly keyValue: { key: string; value: string }[],
    private readonly createdBy: string,
  ) {}

  /** Appends one row group of `rows` rows: `data[k]` for `columns[k]`. */
  async writeRowGroup(rows: number, data: ColumnValues[]): Promise<void> {
    if (!this.started) {
      await this.out.write(MAGIC);
      this.started = true;
    }
    if (rows === 0) return;
    const offset = this.out.bytes;
    const chunks: ChunkRecord[] = [];
    for (let k = 0; k < this.columns.length; k++) {
      chunks.push(await this.writeChunk(this.columns[k], rows, data[k]));
    }
    this.groups.push({ rows, offset, bytes: this.out.bytes - offset, chunks });
    this.rows += rows;
  }

  private async writeChunk(col: ParquetColumnSpec, rows: number, values: ColumnValues): Promise<ChunkRecord> {
    const offset = this.out.bytes;
    if (values === null && !col.optional) {
      throw new Error(`column ${col.name} is REQUIRED but given no values`);
    }
    let dictionaryOffset: number | null = null;
    const encodings: number[] = [ENC.PLAIN];
    if (col.optional) encodings.push(ENC.RLE);
    let encoding: number = ENC.PLAIN;
    let body: Uint8Array;
    const defLevels = col.optional ? singleRun(rows, values === null ? 0 : 1) : null;
    const present = values === null ? 0 : rows;
    let min: number | undefined, max: number | undefined;
    if (values === null) body = new Uint8Array(0);
    else if (col.dictionary) {
      const dict = col.dictionary;
      const width = Math.max(1, Math.ceil(Math.log2(dict.length)));
      dictionaryOffset = this.out.bytes;
      const plain = plainBytes(col.type, dict, dict.length);
      await this.page(dictionaryPageHeader(dict.length, plain.length), plain);
      body = new Uint8Array(1 + hybridBytes(rows, width));
      body[0] = width;
      body = body.subarray(0, writeHybrid(values, rows, width, body, 1));
      encoding = ENC.RLE_DICTIONARY;
      encodings.push(ENC.RLE_DICTIONARY);
    } else if (col.type === "INT64") {
      min = max = values[0];
      const delta = deltaBytes(values, rows);
      if (delta) {
        body = delta;
        encoding = ENC.DELTA_BINARY_PACKED;
        encodings.push(ENC.DELTA_BINARY_PACKED);
      } else body = plainBytes(col.type, values, rows);
      for (let i = 0; i < rows; i++) {
        if (values[i] < min!) min = values[i];
        if (values[i] > max!) max = values[i];
      }
    } else body = plainBytes(col.type, values, rows);
    const dataOffset = this.out.bytes;
    const levels = defLevels ? 4 + defLevels.length : 0;
    const header = new CompactWriter()
      .i32(1, PAGE.DATA)
      .i32(2, levels + body.length)
      .i32(3, levels + body.length)
      .struct(5, (w) => w.i32(1, rows).i32(2, encoding).i32(3, ENC.RLE).i32(4, ENC.RLE))
      .end();
    await this.out.write(header);
    if (defLevels) {
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, defLevels.length, true);
      await this.out.write(len);
      await this.out.write(defLevels);
    }
    await this.out.write(body);
    return {
      offset,
      dictionaryOffset,
      dataOffset,
      bytes: this.out.bytes - offset,
      values: rows,
      encodings,
      min,
      max,
      nulls: rows - present,
    };
  }

  private async page(header: Uint8Array, body: Uint8Array): Promise<void> {
    await this.out.write(header);
    await this.out.write(body);
  }

  /** Writes the footer (schema, row groups, key-value metadata). */
  async finish(): Promise<void> {
    if (!this.started) await this.writeRowGroup(0, []);
    const w = new CompactWriter();
    w.i32(1, 1);
    const schema = [{ name: "root", children: this.columns.length }, ...this.columns];
    w.list(2, ThriftType.STRUCT, schema, (el) => {
      if ("type" in el) {
        w.i32(1, TYPE[el.type]).i32(3, el.optional ? 1 : 0).binary(4, el.name);
      } else w.binary(4, el.name).i32(5, el.children);
    });
    w.i64(3, this.rows);
    w.list(4, ThriftType.STRUCT, this.groups, (g) => {
      w.list(1, ThriftType.STRUCT, g.chunks, (c, k) => {
        const col = this.columns[k];
        w.i64(2, c.offset);
        w.struct(3, () => {
          w.i32(1, TYPE[col.type]);
          w.list(2, ThriftType.I32, c.encodings);
          w.list(3, ThriftType.BINARY, [col.name]);
          w.i32(4, 0);
          w.i64(5, c.values).i64(6, c.bytes).i64(7, c.bytes).i64(9, c.dataOffset);
          if (c.dictionaryOffset !== null) w.i64(11, c.dictionaryOffset);
          w.struct(12, () => {
            w.i64(3, c.nulls);
            if (c.max !== undefined) w.binary(5, int64Bytes(c.max)).binary(6, int64Bytes(c.min!));
          });
        });
      });
      w.i64(2, g.bytes).i64(3, g.rows).i64(5, g.offset).i64(6, g.bytes);
    });
    w.list(5, ThriftType.STRUCT, this.keyValue, (kv) => w.binary(1, kv.key).binary(2, kv.value));
    w.binary(6, this.createdBy);
    const footer = w.end();
    const tail = new Uint8Array(8);
    new DataView(tail.buffer).setUint32(0, footer.length, true);
    tail.set(MAGIC, 4);
    await this.out.write(footer);
    await this.out.write(tail);
  }
}

function dictionaryPageHeader(count: number, size: number): Uint8Array {
  return new CompactWriter()
    .i32(1, PAGE.DICTIONARY)
    .i32(2, size)
    .i32(3, size)
    .struct(7, (w) => w.i32(1, count).i32(2, ENC.PLAIN))
    .end();
}

/** Definition levels that are all `level`: one RLE run (bit width 1). */
function singleRun(rows: number, level: number): Uint8Array {
  const out: number[] = [];
  let v = rows * 2;
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v, level);
  return Uint8Array.from(out);
}

function int64Bytes(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(v), true);
  return b;
}

/** PLAIN encoding of values[0..n). */
function plainBytes(type: ParquetType, values: ArrayLike<number>, n: number): Uint8Array {
  if (type === "BOOLEAN") {
    const out = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) if (values[i]) out[i >> 3] |= 1 << (i & 7);
    return out;
  }
  if (type === "DOUBLE" || type === "INT32") {
    const typed = type === "DOUBLE" ? new Float64Array(n) : new Int32Array(n);
    for (let i = 0; i < n; i++) typed[i] = values[i];
    return new Uint8Array(typed.buffer);
  }
  const words = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v >= 0 && v < 2 ** 53) {
      words[2 * i] = v % 2 ** 32;
      words[2 * i + 1] = Math.floor(v / 2 ** 32);
    } else {
      const b = new DataView(words.buffer, 8 * i, 8);
      b.setBigInt64(0, BigInt(v), true);
    }
  }
  return new Uint8Array(words.buffer);
}

/**
 * DELTA_BINARY_PACKED encoding of integers values[0..n) (blocks of 128, 4 miniblocks), or null when some
 * block's deltas span more than 32 bits (the caller then writes PLAIN).
 */
function deltaBytes(values: ArrayLike<number>, n: number): Uint8Array | null {
  const BLOCK = 128, MINI = 32;
  const blocks = Math.ceil((n - 1) / BLOCK);
  const out = new Uint8Array(32 + blocks * (10 + 4 + 4 * MINI * 4));
  let at = 0;
  const varint = (v: number) => {
    while (v >= 128) {
      out[at++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    out[at++] = v;
  };
  const zigzag = (v: number) => varint(v >= 0 ? 2 * v : -2 * v - 1);
  varint(BLOCK);
  varint(4);
  varint(n);
  zigzag(values[0]);
  const deltas = new Float64Array(BLOCK);
  const mini = new Float64Array(MINI);
  for (let b = 0; b < blocks; b++) {
    const first = 1 + b * BLOCK, count = Math.min(BLOCK, n - first);
    let minDelta = Infinity;
    for (let j = 0; j < count; j++) {
      deltas[j] = values[first + j] - values[first + j - 1];
      if (deltas[j] < minDelta) minDelta = deltas[j];
    }
    zigzag(minDelta);
    const widthsAt = at;
    at += 4;
    for (let m = 0; m < 4; m++) {
      const from = m * MINI;
      if (from >= count) {
        out[widthsAt + m] = 0;
        continue;
      }
      let max = 0;
      for (let j = 0; j < MINI; j++) {
        mini[j] = from + j < count ? deltas[from + j] - minDelta : 0;
        if (mini[j] > max) max = mini[j];
      }
      if (max >= 2 ** 32) return null;
      const width = max === 0 ? 0 : Math.floor(Math.log2(max)) + 1;
      out[widthsAt + m] = width;
      at = pack(mini, MINI, width, out, at);
    }
  }
  return out.slice(0, at);
}
