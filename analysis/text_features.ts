// Properties of the training text that may forecast memorization without any model (compute fraction 0), per
// scored row, from its window: the prompt and continuation tokens at the scoring offset.
//   - window copies / prompt copies: how many scored rows share the row's exact window / prompt (itself
//     included). Exact: 64-bit hashes are sorted and counted, then rows whose hash is shared are re-read and
//     compared token by token, so a hash collision splits a group instead of merging two texts.
//   - compressed bytes: deflate (zlib level 6, raw: no header or checksum) of the window's tokens as uint16
//     little-endian (uint32 when some token id ≥ 65536); ratio = compressed / raw bytes. Python:
//     len(zlib.compress(tokens.astype("<u2").tobytes(), 6, wbits=-15)).
//   - distinct tokens: distinct token ids in the window (repetitiveness = distinct / window length).
//   - mean log frequency: mean over the window's tokens of ln(count of the token in all scored windows / all
//     tokens of the scored windows): low = rare tokens.
// Cost: two reads of every window (the frequencies must be known before the mean) and one more of rows whose
// window hash is shared; per row O(window) plus one deflate (~5 µs on one reused zlib handle; node:zlib's
// deflateRawSync costs ~17 µs and Deno's CompressionStream ~50 µs a row). Rows are split among workers.
// Memory: 4 bytes a row for the row indices (8 past 2^32), 16 while hashing (4 hashes), 20 of results, and 12
// more while counting copies (a sorted copy of a hash, then the copies): ~7 GB at its peak for Pythia's 146M
// rows, besides the caller's row indices.
// The results are cached beside the report, keyed by the data file, rows and window.
import { openRowSource, type RowSource, rowSourceFiles, rowSourcePath } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { readAt } from "../base/fs.ts";
import { AtomicFile } from "../base/atomic.ts";
import { sampledFingerprint } from "../io/files.ts";
import { resolve } from "../base/path.ts";
import type { Bitset } from "./bitset.ts";
import { type CurveOptions, type PrCurve, precisionRecall, type Ranking } from "./curves.ts";
import { mix32 } from "./random.ts";

/** Where the window lies in each row (the scoring's --prompt, --continuation, --offset). */
export interface TextWindow {
  /** Tokens of the prompt (32 in the paper). */
  prompt: number;
  /** Tokens of the continuation (32 in the paper). */
  continuation: number;
  /** Where in the row the prompt starts, in tokens (0 in the paper). */
  offset: number;
}

/** One value per scored row, in the order of the rows given. */
export interface TextFeatures {
  /** Rows, the length of each array. */
  rows: number;
  /** Tokens in a window (prompt + continuation). */
  window: number;
  /** Bytes of a window before compression (2 or 4 a token). */
  raw_bytes: number;
  /** Scored rows sharing the row's exact window, itself included. */
  window_copies: Uint32Array;
  /** Scored rows sharing the row's exact prompt, itself included. */
  prompt_copies: Uint32Array;
  /** Bytes of the window's tokens after raw deflate (zlib level 6). */
  compressed_bytes: Uint16Array;
  /** Distinct token ids in the window. */
  distinct_tokens: Uint16Array;
  /**
   * Mean over the window's tokens of ln(the token's share of all scored windows' tokens); ≤ 0, low: rare
   * tokens.
   */
  mean_log_frequency: Float64Array;
  /** Rows whose window or prompt hash was shared, compared token by token. */
  verified_rows: number;
  /** Hash groups that held more than one distinct text (each split into its texts). */
  collisions: number;
}

/** The text features as forecasts: which way each points, fixed before looking at any result. */
export const TEXT_FEATURES = [
  { feature: "window_copies", higherIsMemorized: true, why: "duplicated text is memorized more" },
  { feature: "prompt_copies", higherIsMemorized: true, why: "a duplicated prompt may cue the continuation" },
  { feature: "compressed_bytes", higherIsMemorized: false, why: "compressible text is predictable" },
  { feature: "distinct_tokens", higherIsMemorized: false, why: "repetitive text is predictable" },
  { feature: "mean_log_frequency", higherIsMemorized: true, why: "common tokens are easier to predict" },
] as const;

/** How the text features are computed (computeTextFeatures). */
export interface TextFeatureOptions {
  /** Worker threads (default: up to 8 of the machine's cores for 50,000 rows or more, else 0: this thread). */
  workers?: number;
  /** Rows read at a time (default 2048). */
  batch?: number;
}

/** Each text feature as a forecast of the target's memorized rows on its own (predictor "text", compute 0). */
export function textFeatureCurves(
  f: TextFeatures,
  memorized: Bitset,
  target: string,
  options: Omit<CurveOptions, "higherIsMemorized"> = {},
): { curve: PrCurve; ranking: Ranking }[] {
  return TEXT_FEATURES.map(({ feature, higherIsMemorized }) =>
    precisionRecall(f[feature], memorized, { predictor: "text", target, feature }, {
      ...options,
      higherIsMemorized,
    })
  );
}

// ---- per-row work, shared by this thread and the workers -------------------------------------------------

const SEED_A = 0x3c6ef372, SEED_B = 0xa54ff53a;
const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** MurmurHash3-32 of one token into a running hash. */
function step(h: number, token: number): number {
  let k = Math.imul(token, 0xcc9e2d51);
  k = Math.imul(rotl(k, 15), 0x1b873593);
  h = rotl(h ^ k, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Hashes of each window and its prompt (two 32-bit halves each) and the window's distinct tokens. */
export interface HashColumns {
  /** High 32 bits of each window's 64-bit hash. */
  windowHi: Uint32Array;
  /** Low 32 bits of each window's 64-bit hash. */
  windowLo: Uint32Array;
  /** High 32 bits of each prompt's 64-bit hash. */
  promptHi: Uint32Array;
  /** Low 32 bits of each prompt's 64-bit hash. */
  promptLo: Uint32Array;
  /** Distinct token ids in each window. */
  distinct: Uint16Array;
}

/**
 * First pass over rows [from, to) of `rowIndex`: hashes and distinct tokens into `out` (indexed like rowIndex),
 * and the count of every token id over these windows.
 */
export async function hashRows(
  source: RowSource,
  rowIndex: Float64Array | Uint32Array,
  from: number,
  to: number,
  w: TextWindow,
  out: HashColumns,
  batch: number,
): Promise<Float64Array> {
  const length = w.prompt + w.continuation;
  let counts = new Float64Array(1 << 16), stamp = new Uint32Array(1 << 16), row = 0;
  for (let start = from; start < to; start += batch) {
    const end = Math.min(to, start + batch);
    const tokens = await source.read(rowIndex.subarray(start, end), w.offset, length);
    for (let r = 0; r < end - start; r++) {
      let a = SEED_A, b = SEED_B, distinct = 0;
      row++;
      for (let p = 0; p < length; p++) {
        const t = tokens[r * length + p];
        if (t >= counts.length) [counts, stamp] = [grow(counts, t), grow(stamp, t)];
        counts[t]++;
        if (stamp[t] !== row) {
          stamp[t] = row;
          distinct++;
        }
        a = step(a, t);
        b = step(b, t ^ 0x9e3779b9);
        if (p === w.prompt - 1) {
          out.promptHi[start + r] = mix32(a ^ w.prompt);
          out.promptLo[start + r] = mix32(b ^ w.prompt);
        }
      }
      out.windowHi[start + r] = mix32(a ^ length);
      out.windowLo[start + r] = mix32(b ^ length);
      out.distinct[start + r] = distinct;
    }
  }
  return counts;
}

function grow<T extends Float64Array | Uint32Array>(a: T, index: number): T {
  const bigger = new (a.constructor as new (n: number) => T)(Math.max(index + 1, a.length * 2));
  bigger.set(a);
  return bigger;
}

/**
 * Second pass over rows [from, to): mean log frequency (from `logCount`, ln of each token's count, and
 * `logTotal`, ln of all tokens) and deflated size of the window as `width`-byte little-endian tokens.
 */
export async function frequencyAndCompression(
  source: RowSource,
  rowIndex: Float64Array | Uint32Array,
  from: number,
  to: number,
  w: TextWindow,
  logCount: Float64Array,
  logTotal: number,
  width: 2 | 4,
  out: { meanLogFrequency: Float64Array; compressed: Uint16Array },
  batch: number,
): Promise<void> {
  const length = w.prompt + w.continuation, bytes = new Uint8Array(length * width);
  const view = new DataView(bytes.buffer);
  const deflatedSize = await deflatedSizer(bytes.length);
  for (let start = from; start < to; start += batch) {
    const end = Math.min(to, start + batch);
    const tokens = await source.read(rowIndex.subarray(start, end), w.offset, length);
    for (let r = 0; r < end - start; r++) {
      let sum = 0;
      for (let p = 0; p < length; p++) {
        const t = tokens[r * length + p];
        sum += logCount[t];
        if (width === 2) view.setUint16(p * 2, t, true);
        else view.setUint32(p * 4, t, true);
      }
      out.meanLogFrequency[start + r] = sum / length - logTotal;
      out.compressed[start + r] = deflatedSize(bytes);
    }
  }
}

/**
 * A function giving the size of raw deflate (zlib level 6) of inputs up to `maxBytes` long, equal to
 * `deflateRawSync(bytes, { level: 6 }).length`. deflateRawSync builds a stream object a call (~17 µs of the
 * ~5 µs a 128-byte window needs); one zlib handle reset between inputs gives the same bytes (zlib's
 * deflateReset). The handle is Deno's node:zlib internals, so its sizes are checked against deflateRawSync
 * (the first, then one in 65,536), and deflateRawSync serves any input whose output might not have fitted,
 * and every input if the handle is absent or its first size disagrees.
 */
async function deflatedSizer(maxBytes: number): Promise<(bytes: Uint8Array) => number> {
  // Imported here: node:zlib takes ~80 ms to load, which a report that reads the features from its cache skips.
  const zlib = await import("node:zlib");
  const plain = (bytes: Uint8Array) => zlib.deflateRawSync(bytes, { level: 6 }).length;
  type Handle = {
    writeSync(
      flush: number,
      input: Uint8Array,
      inOff: number,
      inLen: number,
      out: Uint8Array,
      outOff: number,
      outLen: number,
    ): void;
    reset(): void;
  };
  const stream = zlib.createDeflateRaw({ level: 6 }) as unknown as {
    _handle?: Handle;
    _writeState?: Uint32Array;
  };
  const handle = stream._handle, state = stream._writeState;
  if (!handle || typeof handle.writeSync !== "function" || typeof handle.reset !== "function" || !state) {
    return plain;
  }
  const out = new Uint8Array(2 * maxBytes + 64); // deflate's worst case is the input + 5 bytes a 16 KiB block
  let calls = 0, useHandle = true;
  return (bytes) => {
    if (!useHandle) return plain(bytes);
    handle.writeSync(zlib.constants.Z_FINISH, bytes, 0, bytes.length, out, 0, out.length);
    const availOut = state[0], availIn = state[1];
    handle.reset();
    if (availIn !== 0 || availOut === 0) return plain(bytes);
    const size = out.length - availOut;
    // The first input decides whether the handle can be used at all; a later disagreement (checked every
    // 65,536 inputs) would mean earlier sizes may be wrong too, so it stops the run.
    if (calls++ % 65536 === 0 && size !== plain(bytes)) {
      if (calls === 1) {
        useHandle = false;
        return plain(bytes);
      }
      throw new EngramError(
        "text features: node:zlib's deflate handle disagrees with deflateRawSync (a bug)",
      );
    }
    return size;
  };
}

// ---- exact copies ------------------------------------------------------------------------------------------

/**
 * For each row, how many rows hold the same text (itself included). `hi`/`lo` are a 64-bit hash of each row's
 * text; rows sharing a hash are fetched through `tokensOf` (their texts, `length` tokens each, in the order
 * asked) and compared, so the counts are exact whatever the hash. Sorting the hashes costs 8 bytes a row.
 */
export async function countCopies(
  hi: Uint32Array,
  lo: Uint32Array,
  length: number,
  tokensOf: (rows: Uint32Array) => Promise<Uint32Array>,
  batch = 4096,
): Promise<{ copies: Uint32Array; verified: number; collisions: number }> {
  const n = hi.length, copies = new Uint32Array(n).fill(1);
  const { groupHi, groupLo, groupStart } = sharedHashes(hi, lo);
  const groups = groupHi.length;
  if (groups === 0) return { copies, verified: 0, collisions: 0 };
  // Open addressing from hash to group, then each group's rows in row order.
  const mask = (1 << Math.ceil(Math.log2(groups * 2 + 1))) - 1, slots = new Int32Array(mask + 1).fill(-1);
  const slotOf = (h: number, l: number) => {
    let s = mix32(h ^ mix32(l)) & mask;
    while (slots[s] >= 0 && (groupHi[slots[s]] !== h || groupLo[slots[s]] !== l)) s = (s + 1) & mask;
    return s;
  };
  for (let g = 0; g < groups; g++) slots[slotOf(groupHi[g], groupLo[g])] = g;
  const members = new Uint32Array(groupStart[groups]), fill = groupStart.slice(0, groups);
  for (let i = 0; i < n; i++) {
    const g = slots[slotOf(hi[i], lo[i])];
    if (g >= 0) members[fill[g]++] = i;
  }
  // Compare each row of a group with the group's distinct texts so far; a group may span batches.
  let largest = 0;
  for (let g = 0; g < groups; g++) largest = Math.max(largest, groupStart[g + 1] - groupStart[g]);
  const classOf = new Uint32Array(largest);
  let g = 0, texts: Uint32Array[] = [], sizes: number[] = [], collisions = 0;
  const finish = () => {
    for (let m = groupStart[g]; m < groupStart[g + 1]; m++) {
      copies[members[m]] = sizes[classOf[m - groupStart[g]]];
    }
    collisions += texts.length > 1 ? 1 : 0;
    texts = [];
    sizes = [];
    g++;
  };
  for (let c0 = 0; c0 < members.length; c0 += batch) {
    const c1 = Math.min(members.length, c0 + batch), tokens = await tokensOf(members.subarray(c0, c1));
    for (let m = c0; m < c1; m++) {
      while (m >= groupStart[g + 1]) finish();
      const text = tokens.subarray((m - c0) * length, (m - c0 + 1) * length);
      let k = texts.findIndex((t) => t.every((x, p) => x === text[p]));
      if (k < 0) {
        k = texts.push(text.slice()) - 1;
        sizes.push(0);
      }
      sizes[k]++;
      classOf[m - groupStart[g]] = k;
    }
  }
  while (g < groups) finish();
  return { copies, verified: members.length, collisions };
}

/**
 * The 64-bit hashes that more than one row has, as typed arrays (there may be millions: no JS array a group):
 * group g's hash halves and its first member's place in a list of members grouped by hash. The sorted copy of
 * the hashes (8 bytes a row) is dropped on return, before the members are listed.
 */
function sharedHashes(hi: Uint32Array, lo: Uint32Array) {
  const n = hi.length, sorted = new BigUint64Array(n), words = new Uint32Array(sorted.buffer);
  for (let i = 0; i < n; i++) {
    words[2 * i] = lo[i];
    words[2 * i + 1] = hi[i];
  }
  sorted.sort();
  // Runs of equal hashes, counted, then recorded.
  const runs = (record: (g: number, i: number, j: number) => void) => {
    let g = 0;
    for (let i = 0; i < n;) {
      let j = i + 1;
      while (j < n && words[2 * j] === words[2 * i] && words[2 * j + 1] === words[2 * i + 1]) j++;
      if (j - i > 1) record(g++, i, j);
      i = j;
    }
    return g;
  };
  const groups = runs(() => {});
  const groupHi = new Uint32Array(groups), groupLo = new Uint32Array(groups);
  const groupStart = new Uint32Array(groups + 1);
  runs((g, i, j) => {
    groupLo[g] = words[2 * i];
    groupHi[g] = words[2 * i + 1];
    groupStart[g + 1] = groupStart[g] + (j - i);
  });
  return { groupHi, groupLo, groupStart };
}

// ---- the whole computation -----------------------------------------------------------------------------------

/** A typed array on shared memory, written by the workers in place. */
const shared = <T>(make: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number): T =>
  new make(new SharedArrayBuffer(n * make.BYTES_PER_ELEMENT));

/** Text features of the rows `rowIndex` (indices into the data) of `data` (a Megatron prefix or .npy path;
 *  an opened RowSource is read on this thread only). */
export async function computeTextFeatures(
  data: string | RowSource,
  rowIndex: ArrayLike<number>,
  w: TextWindow,
  options: TextFeatureOptions = {},
): Promise<TextFeatures> {
  const n = rowIndex.length, length = w.prompt + w.continuation, batch = options.batch ?? 2048;
  if (w.prompt < 1 || w.continuation < 0) {
    throw new EngramError(`text features need a prompt of at least 1 token (got ${w.prompt})`);
  }
  const workers = typeof data === "string"
    ? options.workers ?? (n >= 50_000 ? Math.min(8, navigator.hardwareConcurrency) : 0)
    : 0;
  // The row indices on shared memory for the workers: 4 bytes a row when they fit (Pythia's do), else 8.
  let wide = false;
  for (let i = 0; i < n && !wide; i++) wide = rowIndex[i] >= 2 ** 32;
  const rows = wide ? shared(Float64Array, n) : shared(Uint32Array, n);
  for (let i = 0; i < n; i++) rows[i] = rowIndex[i];
  const hashes: HashColumns = {
    windowHi: shared(Uint32Array, n),
    windowLo: shared(Uint32Array, n),
    promptHi: shared(Uint32Array, n),
    promptLo: shared(Uint32Array, n),
    distinct: shared(Uint16Array, n),
  };
  const second = { meanLogFrequency: shared(Float64Array, n), compressed: shared(Uint16Array, n) };
  const local = typeof data === "string" ? null : data;
  const source = local ?? await openRowSource(data as string);
  const pool = workers > 0 ? new WorkerPool(workers, n) : null;
  try {
    let counts: Float64Array;
    if (pool) {
      const parts = await pool.run<Float64Array>((from, to) => ({
        pass: 1,
        data,
        rows,
        from,
        to,
        w,
        hashes,
        batch,
      }));
      counts = parts.reduce((a: Float64Array, b: Float64Array) => {
        const [big, small] = a.length >= b.length ? [a, b] : [b, a];
        for (let t = 0; t < small.length; t++) big[t] += small[t];
        return big;
      }, new Float64Array(0));
    } else counts = await hashRows(source, rows, 0, n, w, hashes, batch);
    let total = 0, maxToken = 0;
    const logCount = new Float64Array(counts.length);
    for (let t = 0; t < counts.length; t++) {
      total += counts[t];
      if (counts[t] > 0) maxToken = t;
      logCount[t] = Math.log(counts[t]);
    }
    const width = maxToken < 0x10000 ? 2 : 4, logTotal = Math.log(total);
    if (pool) {
      await pool.run((from, to) => ({
        pass: 2,
        data,
        rows,
        from,
        to,
        w,
        logCount,
        logTotal,
        width,
        out: second,
        batch,
      }));
    } else await frequencyAndCompression(source, rows, 0, n, w, logCount, logTotal, width, second, batch);
    pool?.close(); // the workers hold the shared columns too
    const read = (len: number) => (members: Uint32Array) =>
      source.read(Array.from(members, (m) => rows[m]), w.offset, len);
    const windows = await countCopies(hashes.windowHi, hashes.windowLo, length, read(length));
    hashes.windowHi = hashes.windowLo = new Uint32Array(0); // 8 bytes a row the prompts' count can reuse
    const prompts = await countCopies(hashes.promptHi, hashes.promptLo, w.prompt, read(w.prompt));
    return {
      rows: n,
      window: length,
      raw_bytes: length * width,
      window_copies: windows.copies,
      prompt_copies: prompts.copies,
      compressed_bytes: second.compressed,
      distinct_tokens: hashes.distinct,
      mean_log_frequency: second.meanLogFrequency,
      verified_rows: windows.verified + prompts.verified,
      collisions: windows.collisions + prompts.collisions,
    };
  } finally {
    pool?.close();
    if (!local) source.close();
  }
}

/** Worker threads that each take a contiguous share of the rows, kept for both passes. */
class WorkerPool {
  private readonly workers: Worker[];

  constructor(count: number, private readonly n: number) {
    this.workers = Array.from(
      { length: count },
      () => new Worker(new URL("./text_features_worker.ts", import.meta.url), { type: "module" }),
    );
  }

  /** One pass: `message(from, to)` to each worker; resolves to their answers in order. */
  run<T>(message: (from: number, to: number) => Record<string, unknown>): Promise<T[]> {
    const count = this.workers.length;
    return Promise.all(this.workers.map((worker, k) =>
      new Promise<T>((done, fail) => {
        worker.onmessage = (e) => e.data.error ? fail(new EngramError(e.data.error)) : done(e.data.result);
        worker.onerror = (e) => {
          e.preventDefault();
          fail(new Error(`text features worker: ${e.message}`));
        };
        worker.postMessage(message(Math.floor((this.n * k) / count), Math.floor((this.n * (k + 1)) / count)));
      })
    ));
  }

  close(): void {
    for (const worker of this.workers) worker.terminate();
  }
}

// ---- the cache ---------------------------------------------------------------------------------------------

const MAGIC = "ENGRAMTF", VERSION = 1;
const COLUMNS = [
  "window_copies",
  "prompt_copies",
  "compressed_bytes",
  "distinct_tokens",
  "mean_log_frequency",
] as const;
const TYPES = { Uint32Array, Uint16Array, Float64Array } as const;

/** What the cached features depend on: the data files and the tokenizer of texts (size, modification time and
 *  the sampled fingerprint that score records as data_fingerprint: data rewritten in place or behind a repointed
 *  link with the same size and mtime, as `cp -p`, `rsync -t` or an unpacked archive leave it, is another key),
 *  the rows and the window. */
async function cacheKey(data: string, rowIndex: ArrayLike<number>, w: TextWindow, tokenizer?: string) {
  const files = [];
  for (const path of [...rowSourceFiles(data), ...(tokenizer ? [tokenizer] : [])]) {
    try {
      const info = await Deno.stat(path);
      if (info.isFile) {
        files.push({
          path: resolve(path),
          size: info.size,
          mtime: info.mtime?.getTime() ?? null,
          fingerprint: await sampledFingerprint([path]),
        });
      }
    } catch { /* not this form of the path */ }
  }
  let a = SEED_A, b = SEED_B;
  for (let i = 0; i < rowIndex.length; i++) {
    const v = rowIndex[i];
    a = step(step(a, v >>> 0), Math.floor(v / 0x100000000));
    b = step(step(b, (v >>> 0) ^ 0x9e3779b9), Math.floor(v / 0x100000000));
  }
  const n = rowIndex.length;
  return JSON.stringify({
    version: VERSION,
    files,
    rows: {
      count: n,
      first: n ? rowIndex[0] : null,
      last: n ? rowIndex[n - 1] : null,
      hash: [mix32(a), mix32(b)],
    },
    window: w,
  });
}

/**
 * The folder under `root` for the text features of these rows of `data` with this window: named by a hash of the
 * data's absolute path, the window and the rows' count, first and last, so that reports over the same data and
 * rows share one cache and other rows or data get their own (text-features.bin inside checks the whole key).
 */
export function textFeaturesCacheDir(
  root: string,
  data: string,
  rowIndex: ArrayLike<number>,
  w: TextWindow,
): string {
  const n = rowIndex.length;
  const what = JSON.stringify([
    resolve(rowSourcePath(data)),
    w.prompt,
    w.continuation,
    w.offset,
    n,
    rowIndex[0],
    rowIndex[n - 1],
  ]);
  let a = SEED_A, b = SEED_B;
  for (let i = 0; i < what.length; i++) {
    a = step(a, what.charCodeAt(i));
    b = step(b, what.charCodeAt(i) ^ 0x9e3779b9);
  }
  const hex = (x: number) => mix32(x).toString(16).padStart(8, "0");
  return `${root}/text-features-${hex(a)}${hex(b)}`;
}

/**
 * The text features of `rowIndex` in `data`, read from `<dir>/text-features.bin` when it was computed for the
 * same data files, rows and window, else computed and written there (whole or not at all). `source`, when
 * given, is read instead of opening `data` (e.g. JSONL texts tokenized on the fly; this thread only).
 */
export async function cachedTextFeatures(
  dir: string,
  data: string,
  rowIndex: ArrayLike<number>,
  w: TextWindow,
  options: TextFeatureOptions & { source?: RowSource; tokenizer?: string } = {},
): Promise<{ features: TextFeatures; cached: boolean; file: string }> {
  const file = `${dir}/text-features.bin`, key = await cacheKey(data, rowIndex, w, options.tokenizer);
  const found = await readCache(file, key);
  if (found) return { features: found, cached: true, file };
  const cannot = (e: unknown) =>
    new EngramError(
      `cannot write the text features cache ${file}: ${
        (e as Error).message
      }; pass --cache DIR elsewhere, or ` +
        `--no-text-features`,
    );
  // The folder is made first: a cache that cannot be written fails now, not after the features are computed.
  await Deno.mkdir(dir, { recursive: true }).catch((e) => Promise.reject(cannot(e)));
  const features = await computeTextFeatures(options.source ?? data, rowIndex, w, options);
  await writeCache(file, key, features).catch((e) => Promise.reject(cannot(e)));
  return { features, cached: false, file };
}

async function writeCache(file: string, key: string, f: TextFeatures): Promise<void> {
  let offset = 0;
  const arrays = COLUMNS.map((name) => {
    const a = f[name];
    const entry = { name, type: a.constructor.name, offset, length: a.length };
    offset += Math.ceil(a.byteLength / 8) * 8;
    return entry;
  });
  const {
    window_copies: _a,
    prompt_copies: _b,
    compressed_bytes: _c,
    distinct_tokens: _d,
    mean_log_frequency: _e,
    ...scalars
  } = f;
  const header = new TextEncoder().encode(JSON.stringify({ key, scalars, arrays }));
  const head = new Uint8Array(Math.ceil((MAGIC.length + 4 + header.length) / 8) * 8);
  head.set(new TextEncoder().encode(MAGIC));
  new DataView(head.buffer).setUint32(MAGIC.length, header.length, true);
  head.set(header, MAGIC.length + 4);
  // Under a temporary name of its own, renamed into place: reports computing the same features at once each
  // write theirs whole, and the last rename wins (they are equal).
  const out = await AtomicFile.create(file);
  await out.write(head);
  for (const name of COLUMNS) {
    const a = f[name], bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    await out.write(bytes);
    await out.write(new Uint8Array(Math.ceil(a.byteLength / 8) * 8 - a.byteLength));
  }
  await out.commit();
}

/** The cached features when `file` holds them for `key`; null when it is missing, of another key, or damaged in
 *  any way (a cache is only a shortcut: what it cannot give is computed again and the file rewritten). */
async function readCache(file: string, key: string): Promise<TextFeatures | null> {
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(file);
  } catch {
    return null;
  }
  try {
    const size = (await handle.stat()).size;
    const start = new Uint8Array(MAGIC.length + 4);
    if (
      await readAt(handle, 0, start) < start.length ||
      new TextDecoder().decode(start.subarray(0, MAGIC.length)) !== MAGIC
    ) {
      return null;
    }
    const headerLength = new DataView(start.buffer).getUint32(MAGIC.length, true);
    if (start.length + headerLength > size) return null;
    const header = new Uint8Array(headerLength);
    if (await readAt(handle, start.length, header) < header.length) return null;
    const meta = JSON.parse(new TextDecoder().decode(header));
    if (meta?.key !== key || !Array.isArray(meta.arrays)) return null;
    const base = Math.ceil((MAGIC.length + 4 + header.length) / 8) * 8;
    const out: Record<string, unknown> = { ...meta.scalars };
    for (const name of COLUMNS) {
      const entry = (meta.arrays as { name: string; type: string; offset: number; length: number }[])
        .find((e) => e?.name === name);
      if (!entry || !Object.hasOwn(TYPES, entry.type)) return null;
      const type = TYPES[entry.type as keyof typeof TYPES];
      const { offset, length } = entry;
      if (
        !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
        base + offset + length * type.BYTES_PER_ELEMENT > size
      ) {
        return null;
      }
      const a = new type(length);
      if (await readAt(handle, base + offset, new Uint8Array(a.buffer)) < a.byteLength) return null;
      out[name] = a;
    }
    return out as unknown as TextFeatures;
  } catch {
    return null; // a header that is not JSON, a read that fails: computed again
  } finally {
    handle.close();
  }
}
