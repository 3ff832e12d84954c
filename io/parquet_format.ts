// Parquet's numbering, and the RLE/bit-packed hybrid encoding its levels and dictionary indices use: what
// reading and writing share.

/** The physical types engram writes. */
export type ParquetType = "INT64" | "INT32" | "DOUBLE" | "BOOLEAN";

/** Parquet's numbering of the things this module writes and reads. */
export const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5 } as const;
/** Parquet's numbering of the page encodings engram writes or reads. */
export const ENC = {
  PLAIN: 0,
  PLAIN_DICTIONARY: 2,
  RLE: 3,
  DELTA_BINARY_PACKED: 5,
  RLE_DICTIONARY: 8,
} as const;
/** Parquet's numbering of page types. */
export const PAGE = { DATA: 0, INDEX: 1, DICTIONARY: 2, DATA_V2: 3 } as const;
/** The 4 bytes ("PAR1") that open and close every Parquet file. */
export const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"

/** Thrown by the fast decoder for what it leaves to hyparquet. */
export class Unsupported extends Error {}

// ---------------------------------------------------------------------------------------------- bit packing

/** Reads bytes from a buffer, failing (as corrupt data) rather than reading past its end. */
export class Bytes {
  /** Offset of the next byte to read. */
  pos: number;
  /** Reads `b` from `start` up to `end` (exclusive). */
  constructor(readonly b: Uint8Array, start = 0, readonly end = b.length) {
    this.pos = start;
  }
  /** Fails unless `n` more bytes remain before `end`. */
  need(n: number): void {
    if (this.pos + n > this.end) throw new Error("page data ends early");
  }
  /** The next byte. */
  u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  /** The next 4 bytes as a little-endian unsigned integer. */
  u32(): number {
    this.need(4);
    const b = this.b, p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }
  /** The next ULEB128 varint (exact up to 2^56). */
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
  /** The next varint, zigzag-decoded to a signed integer. */
  zigzag(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
}

/** Unpacks `n` values of `width` bits (LSB first, as Parquet packs them) into out[at..]. */
export function unpack(r: Bytes, width: number, n: number, out: Uint32Array, at: number): void {
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
export function pack(
  values: ArrayLike<number>,
  n: number,
  width: number,
  out: Uint8Array,
  at: number,
): number {
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
export function scratch(n: number): Uint32Array {
  if (scratchIndices.length < n) scratchIndices = new Uint32Array(n);
  return scratchIndices;
}

/** Reads `n` values of Parquet's RLE/bit-packed hybrid encoding into out[0..n). */
export function readHybrid(r: Bytes, width: number, n: number, out: Uint32Array): void {
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
export const hybridBytes = (n: number, width: number): number =>
  Math.ceil(n / 504) + Math.ceil(Math.ceil(n / 8) * width);

/** Writes values[0..n) as bit-packed runs of at most 63 groups of 8 (a one-byte header each, as most do). */
export function writeHybrid(
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
