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
//
// The rooms: io/parquet_format.ts (numbering, bit packing), io/parquet_footer.ts (the Thrift footer),
// io/parquet_pages.ts (page decoding), io/parquet_writer.ts (the writer); this file reads a file's row groups.
import type { FileMetaData } from "hyparquet";
import { EngramError } from "../base/errors.ts";
import { BatchArrays } from "./arrays.ts";
import { FileBytes } from "./files.ts";
import { importLazily } from "../base/lazy.ts";
import { Unsupported } from "./parquet_format.ts";
import {
  applyNumeric,
  bigEndianInteger,
  type ChunkMeta,
  type ColumnInfo,
  decodeFooter,
  type NumericKind,
  numericKind,
  type ParquetFooter,
  powerOfTen,
} from "./parquet_footer.ts";
import { decodeChunk, READ_CODECS } from "./parquet_pages.ts";

// --------------------------------------------------------------------------------------------------- reading

/** A flat column of a row group, decoded: numbers (booleans as 0/1), NaN for null. */
export interface ParquetColumnBatch {
  /** Rows in this batch (one row group). */
  length: number;
  /** The batch's first row in the file. */
  rowStart: number;
  /** The row group's flat numeric columns by name, one value per row. */
  columns: Map<string, Float64Array>;
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

  /** Opens the Parquet file at `path`, decoding its footer and top-level columns (refused: an unreadable one). */
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

export type { ParquetType } from "./parquet_format.ts";
export type { ParquetFooter } from "./parquet_footer.ts";
export { type ColumnValues, type ParquetColumnSpec, ParquetWriter } from "./parquet_writer.ts";
