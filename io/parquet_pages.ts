// A column chunk's pages decoded into numbers: decompression, definition levels, PLAIN, dictionary and
// DELTA_BINARY_PACKED values.
import { importLazily } from "../base/lazy.ts";
import { readStruct, type ThriftStruct } from "./thrift.ts";
import { Bytes, ENC, PAGE, readHybrid, scratch, unpack, Unsupported } from "./parquet_format.ts";
import { bigEndianInteger, type ColumnInfo, type NumericKind } from "./parquet_footer.ts";

/** The codecs read here: Snappy by hyparquet, the rest by hyparquet-compressors. */
export const READ_CODECS = ["UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "BROTLI", "LZ4", "LZ4_RAW"];

/** A page decompressor of `codec` (null: uncompressed), checked to give the page's size. */
export async function decompressor(
  codec: string,
): Promise<((data: Uint8Array, size: number) => Uint8Array) | null> {
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
export async function decodeChunk(
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
export function definitionLevels(r: Bytes, count: number): Uint32Array | null {
  const start = r.pos;
  const h = r.varint();
  if (!(h & 1) && Math.floor(h / 2) >= count && r.pos < r.end && r.b[r.pos] === 1) return null;
  r.pos = start;
  const defined = new Uint32Array(count);
  readHybrid(r, 1, count, defined);
  return defined;
}

/** Decodes `count` slots into out[at..]: values where `defined` (all when null), NaN elsewhere. */
export function readValues(
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
export function readPlain(r: Bytes, type: string, n: number, out: Float64Array, length = 0): void {
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
export function readDelta(r: Bytes, n: number, out: Float64Array): void {
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
