// Writing Parquet: flat columns, one data page (v1) per column per row group (see io/parquet.ts).
import type { AtomicFile } from "../base/atomic.ts";
import { CompactWriter, ThriftType } from "./thrift.ts";
import {
  ENC,
  hybridBytes,
  MAGIC,
  pack,
  PAGE,
  type ParquetType,
  TYPE,
  writeHybrid,
} from "./parquet_format.ts";

/** One column of a file written by ParquetWriter. */
export interface ParquetColumnSpec {
  /** Its name in the schema. */
  name: string;
  /** Its physical type. */
  type: ParquetType;
  /** Whether it may hold nulls (OPTIONAL; a row group's values are then either all present or all null). */
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

  /** A writer of `columns` into `out`, its footer holding `keyValue` and naming `createdBy` as the writer. */
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

  /** Writes one column chunk (a dictionary page when the column has a dictionary, then one data page). */
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

  /** Writes a page: its Thrift header, then its body. */
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
