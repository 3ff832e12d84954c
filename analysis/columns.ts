// The report's per-row store: compact columns per model@revision over one shared row space.
//
// Rows arrive in any order, file after file, so each model@revision ("source") keeps its rows in pages of
// PAGE_ROWS training rows (page p holds indices p·PAGE_ROWS ..): per row matches and first_mismatch as bytes
// (NOT_SCORED where the source has no row), logprob as f32 (NaN) where the inputs have it. A memorized-evals
// list keeps only a bit per row. Writing a row that is already there is a duplicate (counted; a conflict when
// the values differ), so duplicates cost nothing extra to find.
//
// Memory: 2 bytes a row a source (6 with logprob). When the pages in memory pass the budget after an input
// file, they go to a spill file and come back page by page when needed, so only bitsets (2 bits a row a
// source) stay in memory for all sources at once.
//
// seal() lays every page any source touched side by side in index order: the row space. Position i of the row
// space is training row space.index(i); every bitset the analysis sees is over these positions. A source's
// columns are read once a page at a time (from memory, or from the spill: only the arrays asked for), either
// gathered into compact arrays over a set of positions (the analysed rows: `columns`), or handed page by page,
// every source's page side by side (`forEachPage`), so the columns of any two sources are aligned row for row.
import { EngramError } from "../base/errors.ts";
import { readAt, writeAll } from "../base/fs.ts";
import { MAX_CONTINUATION } from "../engine/paper.ts";
import { join } from "../base/path.ts";
import { type Bitset, count, emptyBitset } from "./bitset.ts";

// A byte column holds 0..MAX_CONTINUATION (engine/paper.ts, which score refuses to pass) and these two markers.
/** A byte column's value where the source has no row. */
export const NOT_SCORED = 255;
/** first_mismatch of a row whose inputs give only a score below 1 (reference CSVs without the column). */
export const FIRST_MISMATCH_UNKNOWN = 254;
/** Rows per page: a multiple of 32, so a page is whole words of a bitset. */
export const PAGE_ROWS = 1 << 16;
const PAGE_WORDS = PAGE_ROWS >>> 5;

/** Rows of one source as readers give them (the io layer's ResultsBatch, model@revision known). */
export interface RowBatch {
  /** Rows in the batch. */
  length: number;
  /** Each row's index in the training data, ascending. */
  index: Float64Array;
  /** Matching tokens of the continuation (0..continuation); null when the inputs give none. */
  matches: ArrayLike<number> | null;
  /** First mismatching position (continuation = none: memorized). */
  firstMismatch: ArrayLike<number>;
  /** Mean log-prob of the true continuation per row; null when the inputs give none. */
  logprob: Float32Array | null;
}

/** The first conflicting duplicate of a source: the same row with two different results. */
export interface Conflict {
  /** The row's index in the training data. */
  index: number;
  /** [matches or NOT_SCORED, first_mismatch] as first stored and as met again. */
  stored: [number, number];
  /** The same, as met again. */
  met: [number, number];
  /** The file the second one came from. */
  file: string;
}

/** The arrays of a source's page, as `columns` and `forEachPage` name them. */
export type ColumnName = "matches" | "firstMismatch" | "logprob";
const ALL_COLUMNS: readonly ColumnName[] = ["matches", "firstMismatch", "logprob"];

/** A page of a dense source: PAGE_ROWS rows' values; its arrays null while spilled (see `spilled`). */
export interface Page {
  /** First mismatch per row; NOT_SCORED: no row there, FIRST_MISMATCH_UNKNOWN: its input gives none. */
  firstMismatch: Uint8Array | null;
  /** Matches per row (NOT_SCORED where none); null when the source has no matches. */
  matches: Uint8Array | null;
  /** Mean log-prob per row (NaN where none); null when the source has no logprob. */
  logprob: Float32Array | null;
  /** Byte offset in the spill file while the arrays are there instead of in memory. */
  spilled: number;
  /** Whether the spilled page includes matches. */
  spilledMatches: boolean;
  /** Whether the spilled page includes logprobs. */
  spilledLogprob: boolean;
}

/** A memorized-evals list: only which rows are listed. */
export type ListedPage = Uint32Array;

const blankBytes = () => new Uint8Array(PAGE_ROWS).fill(NOT_SCORED);

/** The pages of one source, as they are written. */
export class SourceStore {
  /** Each page by number (page k: rows k·PAGE_ROWS ...), dense or listed. */
  readonly pages = new Map<number, Page | ListedPage>();
  /** Distinct rows stored. */
  rows = 0;
  /** Rows met more than once (same values), and rows met again with other values. */
  duplicates = 0;
  /** Rows met again with other values than first stored. */
  conflicts = 0;
  /** The first such conflict, for the message; null while there is none. */
  firstConflict: Conflict | null = null;
  /** Rows left out because they are ≥ --universe. */
  beyondUniverse = 0;
  /** Some rows have matches (a score) / a logprob. */
  hasMatches = false;
  /** Some rows have a logprob. */
  hasLogprob = false;
  /** The files its rows were read from, in the order first met. */
  readonly files: string[] = [];

  /**
   * A store of the source `name` (model@revision): listed (memorized-evals) or dense, scored over
   * `continuation` tokens.
   */
  constructor(
    readonly name: string,
    readonly listed: boolean,
    readonly continuation: number,
    private readonly spill: Spill,
  ) {}

  /** Stores a batch of scored rows read from `file`. */
  async add(batch: RowBatch, file: string, universe: number | null): Promise<void> {
    if (!this.files.includes(file)) this.files.push(file);
    if (batch.matches) this.hasMatches = true;
    if (batch.logprob) this.hasLogprob = true;
    const limit = universe ?? Infinity;
    for (let i = 0; i < batch.length;) {
      const x = batch.index[i];
      if (x >= limit) {
        this.beyondUniverse++;
        i++;
        continue;
      }
      const pageNo = Math.floor(x / PAGE_ROWS);
      let page = this.pages.get(pageNo) as Page | undefined;
      if (!page?.firstMismatch) page = await this.densePage(pageNo); // new, or spilled
      if (batch.matches && !page.matches) {
        page.matches = blankBytes();
        this.spill.inMemory += PAGE_ROWS;
      }
      if (batch.logprob && !page.logprob) {
        page.logprob = new Float32Array(PAGE_ROWS).fill(NaN);
        this.spill.inMemory += 4 * PAGE_ROWS;
      }
      const base = pageNo * PAGE_ROWS,
        next = this.fill(page, base, Math.min(PAGE_ROWS, limit - base), batch, i, file);
      if (next === i) throw new Error(`index ${x} is not a row number (readers check indices)`);
      i = next;
    }
  }

  /** Stores rows i.. of the batch while they fall in the page's first `rows` rows; returns the first row that
   *  does not (the caller moves to its page). One tight loop a page: rows usually come in index order. */
  private fill(page: Page, base: number, rows: number, batch: RowBatch, i: number, file: string): number {
    const { index, matches, firstMismatch, logprob } = batch;
    const fm = page.firstMismatch!, pm = page.matches, pl = page.logprob, n = batch.length;
    let stored = 0;
    for (; i < n; i++) {
      const o = index[i] - base;
      if (!(o >= 0 && o < rows)) break;
      const f = firstMismatch[i];
      if (fm[o] !== NOT_SCORED) {
        this.again(page, o, f, matches ? matches[i] : NOT_SCORED, base + o, file);
        continue;
      }
      fm[o] = f;
      if (matches) pm![o] = matches[i];
      if (logprob) pl![o] = logprob[i];
      stored++;
    }
    this.rows += stored;
    return i;
  }

  /** A row met again: a duplicate when both say the same (an unknown first_mismatch or score is filled in),
   *  else a conflict. */
  private again(page: Page, o: number, f: number, m: number, index: number, file: string): void {
    const c = this.continuation, fm = page.firstMismatch!;
    const stored = page.matches ? page.matches[o] : NOT_SCORED, was = fm[o];
    const sameFirst = was === f || (was === FIRST_MISMATCH_UNKNOWN && f !== c) ||
      (f === FIRST_MISMATCH_UNKNOWN && was !== c);
    if (sameFirst && (stored === m || stored === NOT_SCORED || m === NOT_SCORED)) {
      this.duplicates++;
      if (stored === NOT_SCORED && m !== NOT_SCORED) page.matches![o] = m;
      if (was === FIRST_MISMATCH_UNKNOWN) fm[o] = f;
      return;
    }
    this.conflicts++;
    this.firstConflict ??= { index, stored: [stored, was], met: [m, f], file };
  }

  /** Stores the rows a memorized-evals file lists (each memorized). */
  addListed(index: Float64Array, length: number, file: string): void {
    if (!this.files.includes(file)) this.files.push(file);
    let pageNo = -1, base = 0, bits: ListedPage | null = null;
    for (let i = 0; i < length; i++) {
      const x = index[i];
      if (Math.floor(x / PAGE_ROWS) !== pageNo) {
        pageNo = Math.floor(x / PAGE_ROWS);
        base = pageNo * PAGE_ROWS;
        bits = this.pages.get(pageNo) as ListedPage | undefined ?? null;
        if (!bits) this.pages.set(pageNo, bits = new Uint32Array(PAGE_WORDS));
      }
      const o = x - base, w = o >>> 5, bit = 1 << (o & 31);
      if (bits![w] & bit) this.duplicates++;
      else {
        bits![w] |= bit;
        this.rows++;
      }
    }
  }

  /** The dense page `pageNo`, made blank if new, loaded back if spilled. */
  private async densePage(pageNo: number): Promise<Page> {
    let page = this.pages.get(pageNo) as Page | undefined;
    if (!page) {
      page = {
        firstMismatch: blankBytes(),
        matches: null,
        logprob: null,
        spilled: -1,
        spilledMatches: false,
        spilledLogprob: false,
      };
      this.pages.set(pageNo, page);
      this.spill.inMemory += PAGE_ROWS;
    } else if (!page.firstMismatch) await this.spill.load(page);
    return page;
  }

  /** A page's columns, from memory or the spill file (not kept in memory; only `wanted` are read from it). */
  async pageColumns(pageNo: number, wanted: readonly ColumnName[] = ALL_COLUMNS): Promise<Page | null> {
    const page = this.pages.get(pageNo) as Page | undefined;
    if (!page) return null;
    return page.firstMismatch ? page : await this.spill.read(page, wanted);
  }

  /** This source's pages whose arrays are in memory. */
  inMemoryPages(): Page[] {
    if (this.listed) return [];
    return [...this.pages.values()].filter((p) => (p as Page).firstMismatch) as Page[];
  }
}

/** Where pages go when memory runs short: one temporary file, pages appended, read back by offset. */
export class Spill {
  /** Bytes of dense pages in memory. */
  inMemory = 0;
  private file: Deno.FsFile | null = null;
  private path = "";
  private end = 0;

  /**
   * A spill into a temporary file under `dir` (default: the system's), once `budget` bytes of pages are in
   * memory.
   */
  constructor(private readonly dir: string | undefined, readonly budget: number) {}

  /** Moves every page in memory to the spill file. */
  async write(pages: Page[]): Promise<void> {
    if (pages.length === 0) return;
    if (!this.file) {
      const dir = await Deno.makeTempDir({ dir: this.dir, prefix: "engram-report-spill-" });
      this.path = join(dir, "pages");
      this.file = await Deno.open(this.path, { create: true, read: true, write: true, truncate: true });
      await Deno.remove(this.path); // unlinked: the space returns when the file closes, even after a kill
      await Deno.remove(dir);
    }
    for (const p of pages) {
      const parts = [p.firstMismatch!, p.matches, p.logprob].filter((a) => a !== null) as ArrayBufferView[];
      p.spilled = this.end;
      p.spilledMatches = p.matches !== null;
      p.spilledLogprob = p.logprob !== null;
      for (const a of parts) {
        await this.file.seek(this.end, Deno.SeekMode.Start);
        await writeAll(this.file, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
        this.end += a.byteLength;
      }
      this.inMemory -= PAGE_ROWS * (1 + (p.matches ? 1 : 0) + (p.logprob ? 4 : 0));
      p.firstMismatch = p.matches = p.logprob = null;
    }
  }

  /** A spilled page's `wanted` arrays, read back (the others null; the page itself stays spilled). Its arrays
   *  lie one after the other: first_mismatch, then matches and logprob where it has them. */
  async read(page: Page, wanted: readonly ColumnName[] = ALL_COLUMNS): Promise<Page> {
    const at = page.spilled, matchesAt = at + PAGE_ROWS;
    const logprobAt = matchesAt + (page.spilledMatches ? PAGE_ROWS : 0);
    const fm = wanted.includes("firstMismatch") ? await this.readAt(at, 1, Uint8Array) as Uint8Array : null;
    const matches = page.spilledMatches && wanted.includes("matches")
      ? await this.readAt(matchesAt, 1, Uint8Array) as Uint8Array
      : null;
    const logprob = page.spilledLogprob && wanted.includes("logprob")
      ? await this.readAt(logprobAt, 4, Float32Array) as Float32Array
      : null;
    return { ...page, firstMismatch: fm, matches, logprob };
  }

  /** Brings a spilled page back into memory to write to it (a row met again after its page was spilled). */
  async load(page: Page): Promise<void> {
    const back = await this.read(page);
    page.firstMismatch = back.firstMismatch;
    page.matches = back.matches;
    page.logprob = back.logprob;
    this.inMemory += PAGE_ROWS * (1 + (page.matches ? 1 : 0) + (page.logprob ? 4 : 0));
  }

  /** A page-long array of `type` (`width` bytes a row) read at `offset` of the spill file. */
  private async readAt(
    offset: number,
    width: number,
    type: Uint8ArrayConstructor | Float32ArrayConstructor,
  ): Promise<Uint8Array | Float32Array> {
    const out = new type(PAGE_ROWS);
    const bytes = new Uint8Array(out.buffer);
    const got = await readAt(this.file!, offset, bytes);
    if (got < bytes.length) {
      throw new Error(`spill file ended at ${offset + got} of ${offset + PAGE_ROWS * width}`);
    }
    return out;
  }

  /** Closes the spill file (unlinked already: its space returns now). */
  close(): void {
    this.file?.close();
    this.file = null;
  }
}

/** Every page any source touched, in index order: position i ↔ training row index(i). */
export class RowSpace {
  /** Page numbers in ascending order; page k holds positions k·PAGE_ROWS ... */
  readonly pages: number[];
  private readonly slot: Map<number, number>;

  /** The row space of these pages (duplicates ignored). */
  constructor(pageNumbers: Iterable<number>) {
    this.pages = [...new Set(pageNumbers)].sort((a, b) => a - b);
    this.slot = new Map(this.pages.map((p, k) => [p, k]));
  }

  /** Positions (whole pages, so some positions hold no row of any source). */
  get positions(): number {
    return this.pages.length * PAGE_ROWS;
  }

  /** The training row at a position. */
  index(position: number): number {
    return this.pages[Math.floor(position / PAGE_ROWS)] * PAGE_ROWS + (position % PAGE_ROWS);
  }

  /** Where a page starts in the row space, or -1 when no source touched it. */
  start(pageNo: number): number {
    const k = this.slot.get(pageNo);
    return k === undefined ? -1 : k * PAGE_ROWS;
  }

  /** The positions whose training row is below `limit`. */
  below(limit: number): Bitset {
    const bits = emptyBitset(this.positions);
    this.pages.forEach((p, k) => {
      const rows = Math.max(0, Math.min(PAGE_ROWS, limit - p * PAGE_ROWS));
      const w0 = k * PAGE_WORDS;
      for (let w = 0; w < rows >>> 5; w++) bits[w0 + w] = 0xffffffff;
      if (rows & 31) bits[w0 + (rows >>> 5)] = (1 << (rows & 31)) - 1;
    });
    return bits;
  }
}

/** One source's rows over the row space: which rows it has and which it memorized. */
export interface SourceBits {
  /** Rows the source has (a memorized-evals list: every row of the space below --universe). */
  scored: Bitset;
  /** Rows with first_mismatch = continuation (listed, for memorized-evals). */
  memorized: Bitset;
}

/** One source's columns at a set of positions (row k: the k-th position of the set), aligned with every other
 *  source's; null where the source has no such column or it was not asked for. */
export interface SourceColumns {
  /** 0..continuation, NOT_SCORED where the source has no row or no score. */
  matches: Uint8Array | null;
  /** 0..continuation (= continuation: memorized), FIRST_MISMATCH_UNKNOWN for a score-only row, NOT_SCORED
   *  where the source has no row. */
  firstMismatch: Uint8Array | null;
  /** Mean log-probability of the true continuation; NaN where unknown. */
  logprob: Float32Array | null;
}

/** A page's array, or null where the source has no page there or no such column. */
export type PageArray = Uint8Array | Float32Array | null;

/** A column's value where the source has no row. */
const blank = (column: ColumnName) => column === "logprob" ? NaN : NOT_SCORED;

/** All sources' pages, and the row space once every input is in. */
export class ColumnStore {
  /** Each source's store, by model@revision. */
  readonly sources = new Map<string, SourceStore>();
  private readonly spill: Spill;
  /** The row space; null until `seal` is called. */
  space: RowSpace | null = null;

  /**
   * A store with no sources yet.
   * @param options.spillDir where the spill file goes (default: the system's temporary folder)
   * @param options.memoryBudget bytes of pages kept in memory before they are spilled (default 4 GiB)
   */
  constructor(options: { spillDir?: string; memoryBudget?: number } = {}) {
    this.spill = new Spill(options.spillDir, options.memoryBudget ?? 4 * 2 ** 30);
  }

  /** The store of a source, made on first use. */
  source(name: string, listed: boolean, continuation: number): SourceStore {
    let s = this.sources.get(name);
    if (!s) {
      if (continuation > MAX_CONTINUATION) {
        throw new EngramError(
          `${name}: continuation ${continuation} is longer than the report handles (${MAX_CONTINUATION} tokens)`,
        );
      }
      this.sources.set(name, s = new SourceStore(name, listed, continuation, this.spill));
    }
    return s;
  }

  /** Called after each input file: spills the pages in memory when they pass the budget. */
  async fileDone(): Promise<void> {
    if (this.spill.inMemory <= this.spill.budget) return;
    for (const s of this.sources.values()) await this.spill.write(s.inMemoryPages());
  }

  /** Lays out the row space: every page of every source, and all of [0, universe) for memorized-evals lists. */
  seal(universe: number | null): RowSpace {
    const pages: number[] = [];
    for (const s of this.sources.values()) pages.push(...s.pages.keys());
    if ([...this.sources.values()].some((s) => s.listed) && universe !== null) {
      for (let p = 0; p * PAGE_ROWS < universe; p++) pages.push(p);
    }
    return this.space = new RowSpace(pages);
  }

  /** A source's bitsets over the row space (listed sources: scored = every row below the universe). */
  async bits(name: string, universe: number | null): Promise<SourceBits> {
    const s = this.sources.get(name)!, space = this.space!;
    if (s.listed) {
      const memorized = emptyBitset(space.positions);
      for (const [p, bits] of s.pages) memorized.set(bits as ListedPage, space.start(p) >>> 5);
      return { scored: space.below(universe ?? Infinity), memorized };
    }
    const scored = emptyBitset(space.positions), memorized = emptyBitset(space.positions);
    const c = s.continuation;
    for (const p of s.pages.keys()) {
      const fm = (await s.pageColumns(p, ["firstMismatch"]))!.firstMismatch!;
      const w0 = space.start(p) >>> 5;
      for (let w = 0; w < PAGE_WORDS; w++) {
        let sc = 0, me = 0;
        for (let b = 0, o = w * 32; b < 32; b++, o++) {
          const f = fm[o];
          if (f !== NOT_SCORED) sc |= 1 << b;
          if (f === c) me |= 1 << b;
        }
        scored[w0 + w] = sc;
        memorized[w0 + w] = me;
      }
    }
    return { scored, memorized };
  }

  /**
   * A source's `wanted` columns at the positions of `rows` (dense sources only), gathered page by page from
   * memory or the spill: row k of each array is the k-th position of `rows`.
   */
  async columns(
    name: string,
    rows: Bitset,
    wanted: readonly ColumnName[] = ALL_COLUMNS,
  ): Promise<SourceColumns> {
    const s = this.sources.get(name)!, n = count(rows);
    const has = (c: ColumnName) =>
      wanted.includes(c) && (c === "firstMismatch" || (c === "matches" ? s.hasMatches : s.hasLogprob));
    const out: SourceColumns = {
      matches: has("matches") ? new Uint8Array(n) : null,
      firstMismatch: has("firstMismatch") ? new Uint8Array(n) : null,
      logprob: has("logprob") ? new Float32Array(n) : null,
    };
    const read = ALL_COLUMNS.filter((c) => out[c] !== null);
    let k = 0;
    await this.forEachPage([name], read, (start, [page]) => {
      const w0 = start >>> 5;
      let taken = 0;
      for (const c of read) taken = gatherPage(page[c], blank(c), rows, w0, out[c]!, k);
      k += taken;
    });
    return out;
  }

  /**
   * Calls fn for every page of the row space, in order, with the `wanted` arrays of each named source's page
   * (null where it has no page there or no such column): every source's page is read once, from memory or the
   * spill, and only one page of each is held at a time. `start`: the page's first position.
   */
  async forEachPage(
    names: string[],
    wanted: readonly ColumnName[],
    fn: (start: number, pages: Record<ColumnName, PageArray>[]) => void,
  ): Promise<void> {
    const space = this.space!, stores = names.map((name) => this.sources.get(name)!);
    for (const p of space.pages) {
      const pages: Record<ColumnName, PageArray>[] = [];
      for (const s of stores) {
        const page = s.pages.has(p) ? await s.pageColumns(p, wanted) : null;
        pages.push({
          matches: page?.matches ?? null,
          firstMismatch: page?.firstMismatch ?? null,
          logprob: page?.logprob ?? null,
        });
      }
      fn(space.start(p), pages);
    }
  }

  /** Frees the spill file. */
  close(): void {
    this.spill.close();
  }
}

/**
 * Copies the values of one page at the positions of `rows` in that page (words w0.. of the bitset) to out[k..]:
 * runs of whole words as one copy, the rest bit by bit; `fill` where the page is null. Returns the values copied.
 */
function gatherPage(
  page: PageArray,
  fill: number,
  rows: Bitset,
  w0: number,
  out: Uint8Array | Float32Array,
  k: number,
): number {
  const from = k;
  for (let w = 0; w < PAGE_WORDS;) {
    if (rows[w0 + w] === 0xffffffff) {
      let end = w + 1;
      while (end < PAGE_WORDS && rows[w0 + end] === 0xffffffff) end++;
      const length = (end - w) * 32;
      if (page) out.set(page.subarray(w * 32, end * 32), k);
      else out.fill(fill, k, k + length);
      k += length;
      w = end;
      continue;
    }
    for (let x = rows[w0 + w], base = w * 32; x !== 0; x &= x - 1) {
      const o = base + 31 - Math.clz32(x & -x);
      out[k++] = page ? page[o] : fill;
    }
    w++;
  }
  return k - from;
}
