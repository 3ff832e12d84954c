// A Parquet file's footer (Thrift FileMetaData): decoded here for what reading needs, its schema's types
// turned into how stored values become numbers.
import { readStruct, type ThriftStruct } from "./thrift.ts";

/** A top-level column of a Parquet file's schema, as reading sees it. */
export interface ColumnInfo {
  /** Its name in the schema. */
  name: string;
  /** Its physical type's name ("INT64", "DOUBLE", ...; "GROUP" for a field with children). */
  type: string;
  /** Whether it may hold nulls (OPTIONAL). */
  optional: boolean;
  /** Whether it holds one value per row: no children and not REPEATED (only flat columns are read). */
  flat: boolean;
  /** How stored values become numbers (their logical type), or why they cannot (a message's words). */
  numeric: NumericKind | { refused: string };
}

/**
 * What a stored value means as a number: as stored (booleans, floats, signed integers of any width: Parquet
 * stores INT(8) and INT(16) sign-extended in INT32), unsigned (INT32 or INT64 bits read as unsigned), or
 * DECIMAL (an integer, or a big-endian two's-complement byte array of `length` bytes, over 10^scale).
 */
export type NumericKind =
  | { kind: "plain" }
  | { kind: "unsigned"; bits: 32 | 64 }
  | { kind: "decimal"; scale: number; length: number; converted: boolean };

/** A schema element's types, as the footer holds them. */
export interface SchemaTypes {
  /** Physical type's name ("INT64", ...; "GROUP" for a field with children). */
  type: string;
  /** Bytes per value of a FIXED_LEN_BYTE_ARRAY; null when the footer gives none. */
  typeLength: number | null;
  /** ConvertedType number (see CONVERTED_NAMES); null when absent. */
  convertedType: number | null;
  /** DECIMAL's scale as the element records it; null when absent. */
  scale: number | null;
  /** LogicalType union (its one field id → value); null when absent. */
  logicalType: ThriftStruct | null;
}

/** Parquet's ConvertedType numbering (parquet.thrift). */
export const CONVERTED_NAMES = [
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
export const LOGICAL_NAMES: Record<number, string> = {
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
export function numericKind(t: SchemaTypes): NumericKind | { refused: string } {
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
export const powerOfTen = (k: number): number => Number(`1e${k}`);

/** Applies a column's logical type to values decoded as stored (NaN: null stays NaN). */
export function applyNumeric(kind: NumericKind, out: Float64Array): void {
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
export function bigEndianInteger(b: Uint8Array, p: number, n: number): number {
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
export interface ChunkMeta {
  /** The column's dotted path in the schema. */
  path: string;
  /** Compression codec's name (CODEC_NAMES), e.g. "ZSTD". */
  codec: string;
  /** Byte offset of the chunk's first data page in the file. */
  dataPageOffset: number;
  /** Byte offset of its dictionary page; null when it has none. */
  dictionaryPageOffset: number | null;
  /** Bytes of the chunk as stored (compressed pages and their headers). */
  compressedSize: number;
}

/** The parts of a Parquet footer that reading needs (decoded here: no npm package for engram's own files). */
export interface ParquetFooter {
  /** Rows in the file. */
  rows: number;
  /** Schema elements depth-first, the root first; `children`: how many of those after it are its children. */
  schema: ({ name: string; repetition: string; children: number } & SchemaTypes)[];
  /** Row groups in file order: rows in each and its column chunks. */
  groups: { rows: number; columns: ChunkMeta[] }[];
  /** The footer's key/value metadata (engram keeps the provenance there). */
  keyValue: Map<string, string>;
}

/** Parquet's numbering of physical types (parquet.thrift's Type). */
export const TYPE_NAMES = [
  "BOOLEAN",
  "INT32",
  "INT64",
  "INT96",
  "FLOAT",
  "DOUBLE",
  "BYTE_ARRAY",
  "FIXED_LEN_BYTE_ARRAY",
];
/** Parquet's numbering of repetitions (FieldRepetitionType). */
export const REPETITION_NAMES = ["REQUIRED", "OPTIONAL", "REPEATED"];
/** Parquet's numbering of compression codecs (CompressionCodec). */
export const CODEC_NAMES = ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"];
/** A Thrift binary field's bytes as UTF-8 text. */
export const text = (v: unknown): string => new TextDecoder().decode(v as Uint8Array);

/** Decodes a footer (FileMetaData, compact protocol) into what reading needs; throws on bad bytes. */
export function decodeFooter(bytes: Uint8Array): ParquetFooter {
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
