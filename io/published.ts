// The tokens EleutherAI's memorized-evals lists carry (each listed row's first 64 tokens, a list<int64> column),
// read for a few rows: the report decodes its memorized samples from them, so no training data is needed.
//
// The tokens are a nested column (list<int64>), which io/parquet.ts does not decode and hyparquet decodes a whole
// row group's column chunk at a time (every page, into JS arrays of BigInt: gigabytes for a row group of a million
// rows of 64 tokens). So the few rows wanted are read here page by page in bounded memory: each page's repetition
// levels say which rows it holds, and only pages holding a wanted row have their values decoded. Pages are
// decompressed, and levels, dictionaries and PLAIN values decoded, by io/parquet's own page functions.
import { EngramError } from "../base/errors.ts";
import { FileBytes } from "./files.ts";
import { ParquetFile, type ParquetFooter } from "./parquet.ts";
import { Bytes, ENC, PAGE, readHybrid } from "./parquet_format.ts";
import { decompressor, READ_CODECS, readPlain } from "./parquet_pages.ts";
import { readStruct, type ThriftStruct } from "./thrift.ts";

/** The column that holds each listed row's tokens. */
const TOKENS = "tokens";

/**
 * The `tokens` of the rows whose `index` is one of `wanted`, from the lists at `paths` (the first file that lists
 * a row gives it): index → tokens. Each file's index column is scanned (flat, a row group at a time), then the
 * tokens of the rows found are read from the pages that hold them.
 */
export async function listedTokens(
  paths: string[],
  wanted: ArrayLike<number>,
): Promise<Map<number, number[]>> {
  const want = new Set(Array.from(wanted)), out = new Map<number, number[]>();
  for (const path of paths) {
    if (out.size === want.size) break;
    const parquet = await ParquetFile.open(path);
    const found = new Map<number, number>(); // row of the file → index
    const taken = new Set<number>();
    for await (const b of parquet.batches(["index"], { reuse: true })) {
      const index = b.columns.get("index")!;
      for (let i = 0; i < b.length; i++) {
        const x = index[i];
        if (want.has(x) && !out.has(x) && !taken.has(x)) {
          taken.add(x);
          found.set(b.rowStart + i, x);
        }
      }
    }
    if (found.size === 0) continue;
    const file = await FileBytes.open(path);
    try {
      const tokens = await readListRows(path, parquet.footer, file, [...found.keys()]);
      for (const [row, index] of found) out.set(index, tokenIds(tokens.get(row), path, row, index));
    } finally {
      file.close();
    }
  }
  return out;
}

/** A list column's leaf as the schema lays it out: its path, type and maximum levels. */
interface Leaf {
  path: string;
  type: string;
  maxDef: number;
  maxRep: number;
  /** Whether an element may be null (else a slot short of maxDef is an empty or null list). */
  nullable: boolean;
}

/** The leaf of the list column TOKENS (tokens.list.element, or .item as pyarrow names it). */
function tokensLeaf(path: string, footer: ParquetFooter): Leaf {
  const schema = footer.schema;
  let i = 1;
  while (i < schema.length && schema[i].name !== TOKENS) {
    // Skip a top-level field and its descendants.
    let pending = schema[i].children;
    i++;
    while (pending > 0 && i < schema.length) pending += schema[i++].children - 1;
  }
  const names: string[] = [];
  let maxDef = 0, maxRep = 0, type = "", nullable = false;
  for (; i < schema.length; i++) {
    const el = schema[i];
    names.push(el.name);
    if (el.repetition !== "REQUIRED") maxDef++;
    if (el.repetition === "REPEATED") maxRep++;
    if (el.children === 0) {
      type = el.type;
      nullable = el.repetition === "OPTIONAL";
      break;
    }
    if (el.children !== 1) break;
  }
  if (names.length === 0 || maxRep !== 1 || (type !== "INT64" && type !== "INT32")) {
    throw new EngramError(
      `${path}: no "${TOKENS}" column of integer lists; a memorized-evals list holds index and tokens`,
    );
  }
  return { path: names.join("."), type, maxDef, maxRep, nullable };
}

/** The list column TOKENS at `rows` (rows of the file): row → values (NaN for a null element). */
async function readListRows(
  path: string,
  footer: ParquetFooter,
  file: FileBytes,
  rows: number[],
): Promise<Map<number, number[]>> {
  const leaf = tokensLeaf(path, footer);
  const out = new Map<number, number[]>();
  let groupStart = 0;
  for (const [g, group] of footer.groups.entries()) {
    const here = rows.filter((r) => r >= groupStart && r < groupStart + group.rows).map((r) =>
      r - groupStart
    );
    if (here.length > 0) {
      const chunk = group.columns.find((c) => c.path === leaf.path);
      if (!chunk) throw new EngramError(`${path}: row group ${g} has no column "${leaf.path}"`);
      const where = `${path}: row group ${g}, column "${leaf.path}"`;
      if (!READ_CODECS.includes(chunk.codec)) {
        throw new EngramError(
          `${where}: compressed with ${chunk.codec}, which engram cannot read (it reads ${
            READ_CODECS.join(", ")
          }); rewrite the list with another codec`,
        );
      }
      let got: Map<number, number[]>;
      try {
        got = await readChunkRows(file, chunk, leaf, new Set(here), group.rows);
      } catch (e) {
        if (e instanceof EngramError) throw e;
        throw new EngramError(`${where}: corrupt (${(e as Error).message}); fetch the file again`);
      }
      for (const [r, values] of got) out.set(groupStart + r, values);
    }
    groupStart += group.rows;
  }
  return out;
}

/** Bytes read for a page header: Thrift needs the header whole, and statistics make it vary in size. */
const HEADER_BYTES = 1 << 16;

/**
 * The values of the wanted rows (`wanted`: rows of the group) of one column chunk, read a page at a time: each
 * page's header, then its body, whose repetition levels say which rows it holds (a row starts at level 0); values
 * are decoded only on pages that hold a wanted row.
 */
async function readChunkRows(
  file: FileBytes,
  chunk: ParquetFooter["groups"][number]["columns"][number],
  leaf: Leaf,
  wanted: Set<number>,
  groupRows: number,
): Promise<Map<number, number[]>> {
  const decompress = await decompressor(chunk.codec);
  const inflate = (data: Uint8Array, size: number) => decompress ? decompress(data, size) : data;
  const start = Math.min(chunk.dictionaryPageOffset || Infinity, chunk.dataPageOffset);
  const end = start + chunk.compressedSize;
  if (!(start >= 4 && end <= file.byteLength)) throw new Error("the column chunk lies outside the file");
  const out = new Map<number, number[]>();
  let dictionary: Float64Array | null = null;
  let row = -1; // the row the last slot belonged to
  const targets = [...wanted].sort((a, b) => a - b), last = targets[targets.length - 1];
  let t = 0; // targets[t]: the first wanted row not before `row`
  for (let pos = start; pos < end && row <= last;) {
    const head = new Uint8Array(await file.slice(pos, Math.min(end, pos + HEADER_BYTES)));
    const { value: h, end: headerEnd } = readStruct(head, 0);
    const type = h[1] as number, uncompressed = h[2] as number, compressed = h[3] as number;
    const bodyAt = pos + headerEnd;
    if (!(compressed >= 0 && bodyAt + compressed <= end)) throw new Error("a page runs past its chunk");
    pos = bodyAt + compressed;
    if (type === PAGE.DICTIONARY) {
      const d = h[7] as ThriftStruct;
      const body = inflate(new Uint8Array(await file.slice(bodyAt, pos)), uncompressed);
      dictionary = new Float64Array(d[1] as number);
      readPlain(new Bytes(body), leaf.type, dictionary.length, dictionary);
      continue;
    }
    if (type !== PAGE.DATA && type !== PAGE.DATA_V2) continue; // an index page
    if (type === PAGE.DATA_V2) {
      // A v2 page says how many rows it holds, and holds whole rows: skip it unread if none is wanted.
      const rows = (h[8] as ThriftStruct)[3] as number;
      if (![...wanted].some((r) => r > row && r <= row + rows)) {
        row += rows;
        continue;
      }
    }
    const raw = new Uint8Array(await file.slice(bodyAt, pos));
    let count: number, encoding: number, rep: Uint32Array, def: Uint32Array, values: Uint8Array;
    if (type === PAGE.DATA) {
      const d = h[5] as ThriftStruct;
      count = d[1] as number;
      encoding = d[2] as number;
      const body = inflate(raw, uncompressed);
      let at = 0;
      const levels = (max: number) => {
        if (max === 0) return new Uint32Array(count);
        const len = new DataView(body.buffer, body.byteOffset + at, 4).getUint32(0, true);
        const decoded = levelsOf(body, at + 4, at + 4 + len, max, count);
        at += 4 + len;
        return decoded;
      };
      rep = levels(leaf.maxRep);
      def = levels(leaf.maxDef);
      values = body.subarray(at);
    } else {
      const d = h[8] as ThriftStruct;
      count = d[1] as number;
      encoding = d[4] as number;
      const defLen = d[5] as number, repLen = d[6] as number;
      rep = levelsOf(raw, 0, repLen, leaf.maxRep, count);
      def = levelsOf(raw, repLen, repLen + defLen, leaf.maxDef, count);
      const rest = raw.subarray(repLen + defLen);
      values = d[7] === false ? rest : inflate(rest, uncompressed - repLen - defLen);
    }
    // The slots of the wanted rows on this page, with the index of each one's value among the page's values
    // (-1: a null element); rows only ascend, so the next wanted row is followed with a pointer.
    const picks: { row: number; k: number }[] = [];
    let present = 0;
    for (let i = 0; i < count; i++) {
      if (rep[i] === 0) {
        row++;
        while (t < targets.length && targets[t] < row) t++;
      }
      const defined = def[i] === leaf.maxDef;
      // A slot one level short of a value is a null element; shorter still, an empty or null list.
      if (targets[t] === row && (defined || (leaf.nullable && def[i] === leaf.maxDef - 1))) {
        picks.push({ row, k: defined ? present : -1 });
      }
      if (defined) present++;
    }
    if (picks.length === 0) continue;
    const ks = picks.filter((p) => p.k >= 0).map((p) => p.k);
    let picked: number[];
    if (encoding === ENC.PLAIN) picked = ks.map((k) => plainAt(values, leaf.type, present, k));
    else if (encoding === ENC.RLE_DICTIONARY || encoding === ENC.PLAIN_DICTIONARY) {
      if (!dictionary) throw new Error("a dictionary-encoded page without a dictionary");
      const width = present ? values[0] : 0;
      picked = hybridAt(values, 1, values.length, width, present, ks).map((i) => {
        if (i >= dictionary!.length) throw new Error(`dictionary index ${i} of ${dictionary!.length}`);
        return dictionary![i];
      });
    } else throw new Error(`encoding ${encoding} of the list's values is not read`);
    for (let j = 0, v = 0; j < picks.length; j++) {
      const list = out.get(picks[j].row) ?? [];
      out.set(picks[j].row, list);
      list.push(picks[j].k >= 0 ? picked[v++] : NaN);
    }
  }
  if (row > groupRows - 1) throw new Error(`the pages hold more than the row group's ${groupRows} rows`);
  return out;
}

const bitWidth = (max: number) => 32 - Math.clz32(max);

/** Walks the RLE / bit-packed hybrid encoding of `count` values of `width` bits in b[at, end): `rle(k, n, v)` for a
 *  run of n values v from value k, `packed(k, n, byte)` for n bit-packed values from value k at b[byte..]. */
function runs(
  b: Uint8Array,
  at: number,
  end: number,
  width: number,
  count: number,
  rle: (k: number, n: number, v: number) => void,
  packed: (k: number, n: number, byte: number) => void,
): void {
  const bytes = (width + 7) >> 3;
  for (let k = 0; k < count;) {
    if (at >= end) throw new Error("levels or indices end early");
    let header = 0, shift = 0;
    for (;;) {
      const byte = b[at++];
      header += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (byte < 0x80) break;
    }
    const n = header % 2 === 0 ? header / 2 : ((header - 1) / 2) * 8;
    const used = Math.min(n, count - k);
    if (header % 2 === 0) {
      let v = 0;
      for (let j = 0; j < bytes; j++) v += b[at++] * 2 ** (8 * j);
      rle(k, used, v);
    } else {
      if (at + (n * width) / 8 > end) throw new Error("bit-packed values end early");
      packed(k, used, at);
      at += (n * width) / 8;
    }
    k += used;
  }
}

/** Value j of bit-packed `width`-bit values from b[byte..] (least significant bit first). */
function unpackOne(b: Uint8Array, byte: number, width: number, j: number): number {
  let v = 0;
  for (let bit = 0; bit < width; bit++) {
    const p = j * width + bit;
    v += ((b[byte + (p >> 3)] >> (p & 7)) & 1) * 2 ** bit;
  }
  return v;
}

/** `count` repetition or definition levels of at most `max`, hybrid-encoded in b[at, end). */
function levelsOf(b: Uint8Array, at: number, end: number, max: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  if (max > 0) readHybrid(new Bytes(b, at, end), bitWidth(max), count, out);
  return out;
}

/** The values at positions `ks` (ascending) of `count` hybrid-encoded values (dictionary indices), skipping the
 *  rest unread. */
function hybridAt(
  b: Uint8Array,
  at: number,
  end: number,
  width: number,
  count: number,
  ks: number[],
): number[] {
  const out: number[] = [];
  if (width === 0) return ks.map(() => 0);
  let i = 0;
  runs(b, at, end, width, count, (k, n, v) => {
    while (i < ks.length && ks[i] < k + n) out[i++] = v;
  }, (k, n, byte) => {
    while (i < ks.length && ks[i] < k + n) out[i] = unpackOne(b, byte, width, ks[i++] - k);
  });
  return out;
}

/** Value k of `n` PLAIN integers of `type` in b. */
function plainAt(b: Uint8Array, type: string, n: number, k: number): number {
  const size = type === "INT64" ? 8 : 4;
  if (n * size > b.length) throw new Error("values end early");
  const dv = new DataView(b.buffer, b.byteOffset + k * size, size);
  return size === 8 ? dv.getUint32(0, true) + dv.getInt32(4, true) * 2 ** 32 : dv.getInt32(0, true);
}

/** A list of token ids, checked: integers in [0, 2^32). */
function tokenIds(value: number[] | undefined, path: string, row: number, index: number): number[] {
  const bad = (what: string) =>
    new EngramError(
      `${path}: row ${row + 1} (index ${index}) has ${what} as its tokens; a memorized-evals list holds ` +
        `each row's first 64 token ids`,
    );
  if (!value) throw bad("no value");
  for (const t of value) if (!(Number.isInteger(t) && t >= 0 && t < 2 ** 32)) throw bad(`the value ${t}`);
  return value;
}
