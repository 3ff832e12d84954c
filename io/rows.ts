// Token row sources: Megatron MMapIndexedDataset (.bin/.idx), NumPy .npy (2-D), and in-memory rows.
// Pythia's .bin files are hundreds of GB, so tokens are read on demand with seek+read, never whole.
import { EngramError, ensure } from "../base/errors.ts";
import { readExactlySync } from "../base/fs.ts";
import { basename, dirname, join } from "../base/path.ts";

/** Rows of token ids, read lazily. */
export interface RowSource {
  /** e.g. "fixtures/pico/data/pico_document (Megatron, uint16, 2048 rows)" */
  readonly description: string;
  /** Rows in the source; valid row indices are [0, numRows). */
  readonly numRows: number;
  /** Tokens [offset, offset+length) of each row in rows[] (row indices, any order), packed row-major into one
   *  Uint32Array of rows.length*length. A row shorter than offset+length, a row index past the end, a negative
   *  token, or (when vocabSize given) a token ≥ vocabSize is an EngramError that names the row index (and the
   *  position and token id where relevant) and the file. */
  read(rows: ArrayLike<number>, offset: number, length: number, vocabSize?: number): Promise<Uint32Array>;
  /** Closes the files behind the source; it cannot be read after. */
  close(): void;
}

/** What the rows at `path` are, told by its extension in any case (every command asks this one function):
 *  texts (".jsonl", read through a tokenizer), a 2-D NumPy array (".npy"), else a Megatron dataset (X, X.bin or
 *  X.idx). */
export function rowSourceKind(path: string): "jsonl" | "npy" | "megatron" {
  const lower = path.toLowerCase();
  return lower.endsWith(".jsonl") ? "jsonl" : lower.endsWith(".npy") ? "npy" : "megatron";
}

/** The one name of the rows at `path`: a Megatron dataset's prefix (X, whether given as X, X.bin, X.idx, the first
 *  slice X-00000-of-000NN.bin of a .bin published in slices, or a folder holding one X.idx), other files as they
 *  are. Results record it, so one data set is one `data` however it was typed. */
export function rowSourcePath(path: string): string {
  return rowSourceKind(path) === "megatron" ? megatronPrefix(path) : path;
}

/** The files rows are read from at `path`: "X.npy" or "X.jsonl" itself, else a Megatron dataset's X.idx and X.bin
 *  (or, where X.bin is absent, its slices X-00000-of-000NN.bin … X-000NN-of-000NN.bin in order). */
export function rowSourceFiles(path: string): string[] {
  if (rowSourceKind(path) !== "megatron") return [path];
  const prefix = rowSourcePath(path);
  return [`${prefix}.idx`, ...(binSlices(prefix) ?? [`${prefix}.bin`])];
}

// EleutherAI publishes the pre-shuffled Pile's document.bin as document-00000-of-00020.bin … (30 GB byte slices
// of the one file; rows straddle them) beside one document.idx whose pointers address their concatenation.
const SLICE_NAME = /^(.*)-(\d{5})-of-(\d{5})\.bin$/;

const statOrNull = (path: string) => {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
};

/** A Megatron dataset's prefix however `path` names it (see rowSourcePath). A folder must hold exactly one .idx. */
function megatronPrefix(path: string): string {
  const slice = SLICE_NAME.exec(basename(path));
  // A slice's name, unless it is itself a dataset's .bin (sharded Megatron data has an .idx per shard).
  if (slice && statOrNull(`${path.slice(0, -4)}.idx`) === null) return join(dirname(path), slice[1]);
  if (/\.(bin|idx)$/.test(path)) return path.replace(/\.(bin|idx)$/, "");
  if (statOrNull(path)?.isDirectory !== true) return path;
  const indexes = [...Deno.readDirSync(path)].filter((e) => e.name.endsWith(".idx") && !e.isDirectory)
    .map((e) => e.name).sort();
  ensure(
    indexes.length === 1,
    () =>
      `${path} is a folder holding ${
        indexes.length === 0 ? "no Megatron index (.idx)" : `several Megatron indexes (${indexes.join(", ")})`
      }; pass the prefix X of X.idx + X.bin`,
  );
  return join(path, indexes[0].slice(0, -4));
}

/** The slices of `prefix`.bin, in order, where `prefix`.bin is absent and `prefix`-00000-of-000NN.bin is there:
 *  all NN+1 names (present or not: opening names the missing ones); null where there are none. A whole .bin is
 *  preferred to slices beside it. */
function binSlices(prefix: string): string[] | null {
  if (statOrNull(`${prefix}.bin`) !== null) return null;
  const dir = dirname(prefix), base = basename(prefix);
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return null;
  }
  const counts = entries.map((e) => SLICE_NAME.exec(e.name))
    .filter((m) => m !== null && m[1] === base && m[2] === "00000").map((m) => m![3]).sort();
  if (counts.length === 0) return null;
  ensure(
    counts.length === 1,
    () =>
      `${prefix}: slices of two sets are there (${
        counts.map((c) => `${base}-00000-of-${c}.bin`).join(", ")
      }); keep the slices of one .bin in the folder`,
  );
  const last = Number(counts[0]);
  return Array.from({ length: last + 1 }, (_, k) => join(dir, sliceName(base, k, last)));
}

const sliceName = (base: string, k: number, last: number) =>
  `${base}-${String(k).padStart(5, "0")}-of-${String(last).padStart(5, "0")}.bin`;

/** Opens "X", "X.bin" or "X.idx" as a Megatron dataset, or "X.npy" as a 2-D NumPy array. */
export function openRowSource(path: string): Promise<RowSource> {
  const kind = rowSourceKind(path);
  if (kind === "npy") return NpyRows.open(path);
  if (kind === "jsonl") {
    return Promise.reject(
      new EngramError(
        `${path}: JSONL texts need a tokenizer; open them with openTextRows from io/texts.ts (--tokenizer DIR)`,
      ),
    );
  }
  return MegatronDataset.open(rowSourcePath(path));
}

interface IntType {
  name: string;
  size: number;
  get(dv: DataView, at: number): number;
}
const U8: IntType = { name: "uint8", size: 1, get: (dv, o) => dv.getUint8(o) };
const I8: IntType = { name: "int8", size: 1, get: (dv, o) => dv.getInt8(o) };
const I16: IntType = { name: "int16", size: 2, get: (dv, o) => dv.getInt16(o, true) };
const U16: IntType = { name: "uint16", size: 2, get: (dv, o) => dv.getUint16(o, true) };
const I32: IntType = { name: "int32", size: 4, get: (dv, o) => dv.getInt32(o, true) };
const U32: IntType = { name: "uint32", size: 4, get: (dv, o) => dv.getUint32(o, true) };
const I64: IntType = { name: "int64", size: 8, get: (dv, o) => Number(dv.getBigInt64(o, true)) };
const U64: IntType = { name: "uint64", size: 8, get: (dv, o) => Number(dv.getBigUint64(o, true)) };

function checkRowIndex(row: number, numRows: number, where: string): void {
  ensure(
    Number.isInteger(row) && row >= 0 && row < numRows,
    () => `row ${row} is past the end of ${where} (${numRows} rows); use row indices 0..${numRows - 1}`,
  );
}

function checkSpan(offset: number, length: number): void {
  ensure(
    Number.isInteger(offset) && offset >= 0 && Number.isInteger(length) && length >= 0,
    () => `token span offset ${offset}, length ${length} must be integers ≥ 0`,
  );
}

function checkShort(row: number, size: number, offset: number, length: number, where: string): void {
  ensure(
    size >= offset + length,
    () =>
      `row ${row} of ${where} has ${size} tokens but tokens [${offset}, ${
        offset + length
      }) were asked for; ` +
      `--offset + --prompt + --continuation (${offset} + ${length}) must fit in the row: skip rows shorter ` +
      `than ${offset + length} tokens, or lower --offset, --prompt or --continuation`,
  );
}

function checkToken(t: number, row: number, pos: number, vocabSize: number | undefined, where: string): void {
  if (t < 0) {
    throw new EngramError(
      `row ${row}, position ${pos} of ${where}: negative token id ${t}; the data is corrupt`,
    );
  }
  if (vocabSize !== undefined && t >= vocabSize) {
    throw new EngramError(
      `row ${row}, position ${pos} of ${where}: token ${t} ≥ vocab size ${vocabSize}; ` +
        `the data was tokenized for a different model`,
    );
  }
  ensure(
    t <= 0xffffffff,
    () => `row ${row}, position ${pos} of ${where}: token ${t} does not fit in 32 bits`,
  );
}

/**
 * Refuses anything there but a regular file (symbolic links to one are fine) before it is opened: opening a FIFO
 * blocks until something writes to it, and a device or socket is no data set. Nothing there is left to the
 * caller's open to report.
 */
export async function ensureRegularFile(path: string, what: string): Promise<void> {
  const info = await Deno.stat(path).catch(() => null);
  if (info === null || info.isFile) return;
  const kind = info.isDirectory
    ? "a folder"
    : info.isFifo
    ? "a FIFO (named pipe)"
    : info.isSocket
    ? "a socket"
    : info.isCharDevice || info.isBlockDevice
    ? "a device"
    : "not a regular file";
  throw new EngramError(`${path} is ${kind}, not a regular file; pass ${what}`);
}

async function openFile(path: string, what: string): Promise<{ file: Deno.FsFile; size: number }> {
  await ensureRegularFile(path, what);
  try {
    const file = await Deno.open(path, { read: true });
    return { file, size: (await file.stat()).size };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new EngramError(`${path} not found; pass ${what}`);
    }
    throw new EngramError(`cannot open ${path}: ${(e as Error).message}`);
  }
}

/** What to do about a file that ended early. */
const RECOPY = "copy it again";

// Rows whose byte ranges are at most this far apart are fetched with one read (Pythia's rows are contiguous,
// 4 KB apart). Reads are synchronous: an async file op costs ~40 µs in Deno, a sync one ~2 µs, so 1024
// scattered rows take ~3 ms instead of ~40 ms; blocking that long is fine while the GPU works.
const MAX_GAP = 64 << 10;
const MAX_GROUP = 8 << 20;

/** Bytes read at any offset, synchronously (see MAX_GAP): one file, or slices read as their concatenation. */
interface ByteReader {
  /** What errors call it: the file, or the slices' names. */
  readonly path: string;
  readonly size: number;
  /** Fills `into` from byte `at`; bytes that are not there are an EngramError naming the file. */
  read(at: number, into: Uint8Array): void;
  close(): void;
}

/** One file's bytes. */
class OneFile implements ByteReader {
  constructor(private readonly file: Deno.FsFile, readonly path: string, readonly size: number) {}
  read(at: number, into: Uint8Array): void {
    readExactlySync(this.file, at, into, this.path, RECOPY);
  }
  close(): void {
    this.file.close();
  }
}

/** Slices of one file, every one but the last `sliceSize` bytes, read as their concatenation with no copy: a
 *  read that straddles a boundary is cut there and each part read from its slice. */
class SlicedFile implements ByteReader {
  constructor(
    private readonly files: Deno.FsFile[],
    private readonly paths: string[],
    private readonly sliceSize: number,
    readonly size: number,
    readonly path: string,
  ) {}
  read(at: number, into: Uint8Array): void {
    const last = this.files.length - 1;
    for (let done = 0; done < into.length;) {
      const pos = at + done, k = Math.min(Math.floor(pos / this.sliceSize), last);
      const within = pos - k * this.sliceSize;
      const n = k === last ? into.length - done : Math.min(into.length - done, this.sliceSize - within);
      readExactlySync(this.files[k], within, into.subarray(done, done + n), this.paths[k], RECOPY);
      done += n;
    }
  }
  close(): void {
    for (const f of this.files) f.close();
  }
}

/** Token rows at byte offsets of one file (or of slices of one); subclasses say where each row lies. */
export abstract class FileRows implements RowSource {
  private readonly path: string;
  private readonly fileSize: number;

  /** Takes ownership of `bytes` (closed by `close`), tokens of `type`. */
  protected constructor(
    private readonly bytes: ByteReader,
    private readonly type: IntType,
    readonly description: string,
    readonly numRows: number,
  ) {
    this.path = bytes.path;
    this.fileSize = bytes.size;
  }

  /** Byte position and length in tokens of a valid row. */
  protected abstract locate(row: number): { pointer: number; size: number };

  read(rows: ArrayLike<number>, offset: number, length: number, vocabSize?: number): Promise<Uint32Array> {
    return settle(() => this.readSync(rows, offset, length, vocabSize));
  }

  /** `read`'s work: rows whose bytes lie close together are fetched with one read (see MAX_GAP). */
  private readSync(rows: ArrayLike<number>, offset: number, length: number, vocabSize?: number): Uint32Array {
    checkSpan(offset, length);
    const k = rows.length, es = this.type.size, span = length * es;
    const starts = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const row = rows[i];
      checkRowIndex(row, this.numRows, this.path);
      const { pointer, size } = this.locate(row);
      checkShort(row, size, offset, length, this.path);
      ensure(
        pointer + size * es <= this.fileSize,
        () =>
          `row ${row} lies past the end of ${this.path} (bytes ${pointer}..${pointer + size * es} of ` +
          `${this.fileSize}); the file is truncated, copy it again`,
      );
      starts[i] = pointer + offset * es;
    }
    const out = new Uint32Array(k * length);
    if (length === 0) return out;
    const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => starts[a] - starts[b]);
    for (let g = 0; g < k;) {
      const begin = starts[order[g]];
      let end = begin + span, h = g + 1;
      while (h < k && starts[order[h]] - end <= MAX_GAP && starts[order[h]] + span - begin <= MAX_GROUP) {
        end = Math.max(end, starts[order[h]] + span);
        h++;
      }
      const buf = new Uint8Array(end - begin);
      this.bytes.read(begin, buf);
      const dv = new DataView(buf.buffer);
      for (; g < h; g++) {
        const i = order[g], at = starts[i] - begin;
        for (let p = 0; p < length; p++) {
          const t = this.type.get(dv, at + p * es);
          if (t < 0 || t >= (vocabSize ?? 0x100000000)) {
            checkToken(t, rows[i], offset + p, vocabSize, this.path);
          }
          out[i * length + p] = t;
        }
      }
    }
    return out;
  }

  /** Closes the file (or the slices). */
  close(): void {
    this.bytes.close();
  }
}

const MEGATRON_DTYPES: Record<number, IntType> = { 1: U8, 2: I8, 3: I16, 4: I32, 5: I64, 8: U16 };
const IDX_HEADER = 34; // magic 9 + version 8 + dtype 1 + n 8 + doc_idx count 8
// The .idx sizes/pointers (12 bytes a row, 1.7 GB for Pythia's 146M rows) are read in chunks on first use.
const CHUNK_ROWS = 1 << 16;
const MAX_CHUNKS = 64;

async function openOne(binPath: string, idxPath: string): Promise<ByteReader> {
  const { file, size } = await openFile(binPath, `the .bin next to ${idxPath}`);
  return new OneFile(file, binPath, size);
}

/** Opens the slices of `prefix`.bin: all of them there, every one but the last as large as the first (the slice
 *  size), the last no larger; each failure names its slice. */
async function openSlices(prefix: string, paths: string[]): Promise<ByteReader> {
  const last = paths.length - 1, files: Deno.FsFile[] = [];
  try {
    let sliceSize = 0, total = 0;
    for (const [k, path] of paths.entries()) {
      const info = await Deno.stat(path).catch(() => null);
      ensure(
        info !== null,
        () =>
          `${path} not found: ${prefix}.bin is there as ${paths.length} slices (${basename(paths[0])} … ` +
          `${basename(paths[last])}) and every one is needed; fetch the missing slice`,
      );
      const { file, size } = await openFile(path, `slice ${k} of ${prefix}.bin`);
      files.push(file);
      if (k === 0) sliceSize = size;
      ensure(
        k === 0 || (k < last ? size === sliceSize : size <= sliceSize),
        () =>
          `${path} is ${size} bytes but the first slice is ${sliceSize}: every slice of ${prefix}.bin but ` +
          `the last is that size, and the last no larger (an interrupted download?); fetch this slice again`,
      );
      ensure(
        sliceSize > 0 || k === last,
        () => `${path} is empty, so the slices of ${prefix}.bin have no size; fetch it again`,
      );
      total += size;
    }
    const name = `${prefix}-{${"0".repeat(5)}..${String(last).padStart(5, "0")}}-of-${
      String(last).padStart(5, "0")
    }.bin`;
    return new SlicedFile(files, paths, Math.max(sliceSize, 1), total, name);
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
}

/** Megatron MMapIndexedDataset (version 1): tokens in prefix.bin, row sizes and byte pointers in prefix.idx. */
export class MegatronDataset extends FileRows {
  private chunks = new Map<number, { sizes: Int32Array; pointers: Float64Array }>();

  private constructor(
    bytes: ByteReader,
    prefix: string,
    slices: number,
    type: IntType,
    numRows: number,
    private readonly idx: Deno.FsFile,
    private readonly idxPath: string,
  ) {
    super(
      bytes,
      type,
      `${prefix} (Megatron, ${type.name}, ${numRows} rows${slices > 0 ? `, .bin in ${slices} slices` : ""})`,
      numRows,
    );
  }

  /** Opens `prefix`.idx and `prefix`.bin (or, where it is absent, its slices `prefix`-00000-of-000NN.bin …, read
   *  as their concatenation), checking the header and that the last row lies inside the .bin. */
  static async open(prefix: string): Promise<MegatronDataset> {
    const idxPath = `${prefix}.idx`, binPath = `${prefix}.bin`;
    const what =
      "the prefix X of a Megatron dataset X.bin + X.idx, a .npy of token rows or a .jsonl of texts";
    const { file: idx, size: idxSize } = await openFile(idxPath, what);
    try {
      const head = new Uint8Array(IDX_HEADER);
      ensure(idxSize >= IDX_HEADER, () => `${idxPath} is ${idxSize} bytes, too short for a Megatron index`);
      readExactlySync(idx, 0, head, idxPath, RECOPY);
      const magic = new TextDecoder("latin1").decode(head.subarray(0, 9));
      ensure(
        magic === "MMIDIDX\0\0",
        () =>
          `${idxPath} is not a Megatron MMapIndexedDataset index (bad magic); pass a Megatron .idx/.bin prefix`,
      );
      const dv = new DataView(head.buffer);
      const version = dv.getBigUint64(9, true);
      ensure(version === 1n, () => `${idxPath}: index version ${version} is not supported (only version 1)`);
      const code = dv.getUint8(17);
      ensure(
        code !== 6 && code !== 7,
        () =>
          `${idxPath}: dtype code ${code} is a float type (a dtype other than integer); token ids must be integers`,
      );
      const type = MEGATRON_DTYPES[code];
      ensure(type, () => `${idxPath}: unknown dtype code ${code} (known: 1-5, 8); is this a Megatron index?`);
      const n = Number(dv.getBigUint64(18, true)), docs = Number(dv.getBigUint64(26, true));
      const need = IDX_HEADER + n * 12 + docs * 8;
      ensure(
        idxSize >= need,
        () =>
          `${idxPath} is ${idxSize} bytes but ${n} rows need ${need}; the index is truncated, copy it again`,
      );
      const slices = binSlices(prefix);
      const bytes = slices ? await openSlices(prefix, slices) : await openOne(binPath, idxPath);
      try {
        const ds = new MegatronDataset(bytes, prefix, slices?.length ?? 0, type, n, idx, idxPath);
        // Check the last row now so a truncated copy fails at once rather than hours into a run.
        const last = n > 0 ? ds.locate(n - 1) : { pointer: 0, size: 0 };
        const end = last.pointer + last.size * type.size;
        ensure(
          end <= bytes.size,
          () =>
            slices
              ? `${slices.at(-1)} ends the slices of ${binPath} at byte ${bytes.size} but row ${n - 1} of ` +
                `${idxPath} ends at byte ${end}; the last slice is truncated, fetch it again`
              : `${binPath} is ${bytes.size} bytes but row ${n - 1} ends at byte ${end}; ` +
                `the file is truncated, copy it again`,
        );
        return ds;
      } catch (e) {
        bytes.close();
        throw e;
      }
    } catch (e) {
      idx.close();
      throw e;
    }
  }

  /** Reads the row's size and pointer from the .idx, a cached chunk of CHUNK_ROWS rows at a time. */
  protected locate(row: number): { pointer: number; size: number } {
    const c = Math.floor(row / CHUNK_ROWS);
    let chunk = this.chunks.get(c);
    if (!chunk) {
      const first = c * CHUNK_ROWS, count = Math.min(CHUNK_ROWS, this.numRows - first);
      const sizeBytes = new Uint8Array(count * 4), ptrBytes = new Uint8Array(count * 8);
      readExactlySync(this.idx, IDX_HEADER + first * 4, sizeBytes, this.idxPath, RECOPY);
      readExactlySync(this.idx, IDX_HEADER + this.numRows * 4 + first * 8, ptrBytes, this.idxPath, RECOPY);
      const sv = new DataView(sizeBytes.buffer), pv = new DataView(ptrBytes.buffer);
      chunk = { sizes: new Int32Array(count), pointers: new Float64Array(count) };
      for (let i = 0; i < count; i++) {
        chunk.sizes[i] = sv.getInt32(i * 4, true);
        chunk.pointers[i] = Number(pv.getBigInt64(i * 8, true));
      }
      if (this.chunks.size >= MAX_CHUNKS) this.chunks.delete(this.chunks.keys().next().value!);
      this.chunks.set(c, chunk);
    }
    const pointer = chunk.pointers[row - c * CHUNK_ROWS], size = chunk.sizes[row - c * CHUNK_ROWS];
    ensure(
      pointer >= 0 && size >= 0,
      () => `${this.idxPath}: row ${row} has a negative size or pointer; corrupt`,
    );
    return { pointer, size };
  }

  /** Closes the .bin and the .idx. */
  override close(): void {
    super.close();
    this.idx.close();
  }
}

const NPY_DTYPES: Record<string, IntType> = {
  "|u1": U8,
  "|i1": I8,
  "<u2": U16,
  "<i2": I16,
  "<u4": U32,
  "<i4": I32,
  "<u8": U64,
  "<i8": I64,
};

/** A 2-D little-endian integer NumPy array (rows × tokens), C order, format version 1, 2 or 3. */
export class NpyRows extends FileRows {
  private readonly rowBytes: number;

  private constructor(
    file: Deno.FsFile,
    path: string,
    fileSize: number,
    type: IntType,
    numRows: number,
    private readonly dataStart: number,
    private readonly cols: number,
  ) {
    super(
      new OneFile(file, path, fileSize),
      type,
      `${path} (npy, ${type.name}, ${numRows}×${cols})`,
      numRows,
    );
    this.rowBytes = cols * type.size;
  }

  /** Opens a .npy file, checking its header (2-D, C order, integer dtype) and that its data is all there. */
  static async open(path: string): Promise<NpyRows> {
    const { file, size } = await openFile(path, "a 2-D integer .npy array of token ids");
    try {
      const pre = new Uint8Array(12);
      ensure(size >= 12, () => `${path} is ${size} bytes, too short for a .npy file`);
      readExactlySync(file, 0, pre, path, RECOPY);
      const dv = new DataView(pre.buffer);
      ensure(
        pre[0] === 0x93 && new TextDecoder().decode(pre.subarray(1, 6)) === "NUMPY",
        () => `${path} is not a .npy file (bad magic); save the tokens with numpy.save`,
      );
      const major = pre[6];
      ensure(major >= 1 && major <= 3, () => `${path}: .npy format version ${major} is not supported (1-3)`);
      const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
      const headerStart = major === 1 ? 10 : 12;
      ensure(
        headerStart + headerLen <= size,
        () => `${path}: .npy header runs past the end; the file is truncated`,
      );
      const headerBytes = new Uint8Array(headerLen);
      readExactlySync(file, headerStart, headerBytes, path, RECOPY);
      const header = new TextDecoder().decode(headerBytes);
      const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
      const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
      const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
      ensure(
        descr !== undefined && fortran !== undefined && shapeText !== undefined,
        () => `${path}: .npy header lacks an integer 'descr', 'fortran_order' or 'shape': ${header.trim()}`,
      );
      const type = NPY_DTYPES[descr];
      ensure(
        type,
        () =>
          `${path}: dtype '${descr}' is not a little-endian integer type; save token ids as e.g. ` +
          `arr.astype('<i4') or np.uint16`,
      );
      ensure(
        fortran === "False",
        () => `${path} is stored in Fortran order; save np.ascontiguousarray(arr) instead`,
      );
      const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
      ensure(
        shape.length === 2,
        () =>
          `${path}: shape (${shape.join(", ")}) is ${shape.length}-D; expected a 2-D (rows, tokens) array`,
      );
      const [rows, cols] = shape, dataStart = headerStart + headerLen;
      const need = dataStart + rows * cols * type.size;
      ensure(
        need <= size,
        () => `${path} is ${size} bytes but shape (${rows}, ${cols}) needs ${need}; truncated`,
      );
      return new NpyRows(file, path, size, type, rows, dataStart, cols);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Rows are `cols` tokens each, back to back after the header. */
  protected locate(row: number): { pointer: number; size: number } {
    return { pointer: this.dataStart + row * this.rowBytes, size: this.cols };
  }
}

/** Rows held in memory (tokenized texts, tests). */
export class MemoryRows implements RowSource {
  /** Rows held. */
  readonly numRows: number;
  /** Keeps `rows` (not copied); `description` names them in errors. */
  constructor(private readonly rows: readonly ArrayLike<number>[], readonly description: string) {
    this.numRows = rows.length;
  }

  read(rows: ArrayLike<number>, offset: number, length: number, vocabSize?: number): Promise<Uint32Array> {
    return settle(() => this.readSync(rows, offset, length, vocabSize));
  }

  /** `read`'s work, checking each token as FileRows does (and that it is an integer). */
  private readSync(rows: ArrayLike<number>, offset: number, length: number, vocabSize?: number): Uint32Array {
    checkSpan(offset, length);
    const out = new Uint32Array(rows.length * length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      checkRowIndex(r, this.numRows, this.description);
      const src = this.rows[r];
      checkShort(r, src.length, offset, length, this.description);
      for (let p = 0; p < length; p++) {
        const t = src[offset + p];
        if (!Number.isInteger(t) || t < 0 || t >= (vocabSize ?? 0x100000000)) {
          checkToken(t, r, offset + p, vocabSize, this.description);
          ensure(
            Number.isInteger(t),
            `row ${r}, position ${offset + p} of ${this.description}: ${t} not an id`,
          );
        }
        out[i * length + p] = t;
      }
    }
    return out;
  }

  /** Nothing to close. */
  close(): void {}
}

/** Runs a synchronous read as a Promise, its EngramError a rejection (reads are sync: see FileRows). */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}
