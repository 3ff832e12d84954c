// The partial-results journal that makes scoring resumable: a header naming the job, then one fixed-size
// record per scored row, appended a batch at a time and flushed to disk before the next batch starts.
// A run killed at any moment (even kill -9) leaves whole records plus at most one torn one, which reopening
// drops; the job restarted with the same arguments continues after the last whole record.
//
// Layout: "ENGRAMJ1", u32 header length, header JSON {key, created}, then fixed-size little-endian records
// whose fields are the results columns that are not derived, in RESULT_COLUMNS' order and with the binary type
// each declares there (io/results_schema.ts): 16 bytes, f64 row index, i16 matches (-1 when not computed),
// i16 first mismatch, f32 mean log-prob (NaN when absent). tests/journal_test.ts holds them to these bytes.
import { EngramError } from "../base/errors.ts";
import { readAt, readExactly, writeAll } from "../base/fs.ts";
import { firstDifference, type NamedRows, type Provenance } from "../io/results.ts";
import { type JournalField, RESULT_COLUMNS, type ResultColumn } from "../io/results_schema.ts";
import type { ScoreColumns, ScoreSink } from "./memorization.ts";

const MAGIC = "ENGRAMJ1";

/** Bytes of each binary type a journal field may have. */
const BYTES: Record<JournalField["type"], number> = { f64: 8, i16: 2, f32: 4 };

/** A record's fields in order: the scorer's column each holds, its binary type, and its byte offset. */
const FIELDS: { field: keyof ScoreColumns; type: JournalField["type"]; offset: number }[] = [];
/** Bytes per record. */
let RECORD = 0;
for (const column of RESULT_COLUMNS as readonly ResultColumn[]) {
  if (!column.journal) continue;
  FIELDS.push({ field: column.journal.field, type: column.journal.type, offset: RECORD });
  RECORD += BYTES[column.journal.type];
}

/**
 * The resumable sink of `scoreRows` (scoring/memorization.ts). The file is created when the first rows are
 * recorded, so a run that fails before scoring anything leaves nothing behind; a journal without a single
 * whole record (a kill between its header and its first rows) holds nothing and is replaced.
 */
export class Journal implements ScoreSink {
  private constructor(
    readonly path: string,
    private readonly key: unknown,
    /** null until the first rows are recorded (a new job) */
    private file: Deno.FsFile | null,
    private dataStart: number,
    /** Rows already recorded. */
    public done: number,
    /** When the job first started (kept across resumes). */
    readonly created: string,
    /** Rows of a journal for other arguments that `replace` dropped (0 when there was none). */
    readonly replaced = 0,
  ) {}

  /**
   * Resumes the journal at `path`, or prepares a new one for `key` (written with the first rows); a journal
   * with rows written for other arguments (or by an engram whose key differs) is refused rather than mixed in,
   * or with `replace` (score --force) deleted and started over.
   */
  static async open(path: string, key: unknown, options: { replace?: boolean } = {}): Promise<Journal> {
    const keyText = JSON.stringify(key);
    const fresh = (replaced = 0) => new Journal(path, key, null, 0, 0, new Date().toISOString(), replaced);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return fresh();
      throw new EngramError(`cannot open ${path}: ${(e as Error).message}; check the output folder`);
    }
    const size = (await file.stat()).size;
    const fail = (why: string): never => {
      file.close();
      throw new EngramError(`${path}: ${why}; delete it to start this job over`);
    };
    const head = new Uint8Array(12);
    const got = await readAt(file, 0, head);
    if (new TextDecoder().decode(head.subarray(0, Math.min(got, 8))) !== MAGIC.slice(0, Math.min(got, 8))) {
      fail("not an engram partial-results journal");
    }
    const headerLength = got < 12 ? Infinity : new DataView(head.buffer).getUint32(8, true);
    let header: { key: unknown; created: string } | null = null;
    if (12 + headerLength <= size) {
      const headerBytes = new Uint8Array(headerLength);
      await readAt(file, 12, headerBytes);
      try {
        header = JSON.parse(new TextDecoder().decode(headerBytes));
      } catch {
        return fail("corrupt journal header");
      }
      if (typeof header !== "object" || header === null || typeof header.created !== "string") {
        return fail("corrupt journal header");
      }
    }
    const dataStart = 12 + headerLength;
    const done = header ? Math.floor((size - dataStart) / RECORD) : 0;
    if (done === 0) {
      // No whole record: nothing to resume, whatever the arguments were (or a header torn by a kill).
      file.close();
      await Deno.remove(path).catch(() => {});
      return fresh();
    }
    if (JSON.stringify(header!.key) !== keyText) {
      file.close();
      if (options.replace) {
        await Deno.remove(path).catch((e) => {
          throw new EngramError(`cannot delete ${path}: ${(e as Error).message}; delete it by hand`);
        });
        return fresh(done);
      }
      throw new EngramError(
        `${path} holds ${done} rows of a run with other arguments (${keyDifference(header!.key, key)}); ` +
          `rerun with those arguments to resume it, or pass --force (or delete it) to start over (a journal ` +
          `written by another engram version cannot be resumed)`,
      );
    }
    // Drop a record torn by a kill mid-write.
    await file.truncate(dataStart + done * RECORD);
    return new Journal(path, key, file, dataStart, done, header!.created);
  }

  /** Creates the file with its header (on the first rows). */
  private async create(): Promise<Deno.FsFile> {
    const header = new TextEncoder().encode(JSON.stringify({ key: this.key, created: this.created }));
    const head = new Uint8Array(12 + header.length);
    head.set(new TextEncoder().encode(MAGIC));
    new DataView(head.buffer).setUint32(8, header.length, true);
    head.set(header, 12);
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(this.path, { read: true, write: true, createNew: true });
      await writeAll(file, head);
      await file.syncData();
    } catch (e) {
      file?.close();
      if (!(e instanceof Deno.errors.AlreadyExists)) await Deno.remove(this.path).catch(() => {});
      throw new EngramError(
        `cannot write ${this.path}: ${(e as Error).message}; free space or pass another --out, and rerun`,
      );
    }
    this.dataStart = head.length;
    return file;
  }

  /** Appends rows [0, n) of `cols` and flushes them to disk. */
  async append(cols: ScoreColumns, n: number): Promise<void> {
    const bytes = new Uint8Array(n * RECORD);
    const view = new DataView(bytes.buffer);
    for (const { field, type, offset } of FIELDS) {
      const values = cols[field];
      // A loop per type, each calling one DataView method (one called through a variable: 1.5-2x slower).
      switch (type) {
        case "f64":
          for (let i = 0; i < n; i++) view.setFloat64(i * RECORD + offset, values[i], true);
          break;
        case "i16":
          for (let i = 0; i < n; i++) view.setInt16(i * RECORD + offset, values[i], true);
          break;
        case "f32":
          for (let i = 0; i < n; i++) view.setFloat32(i * RECORD + offset, values[i], true);
      }
    }
    this.file ??= await this.create();
    try {
      await this.file.seek(this.dataStart + this.done * RECORD, Deno.SeekMode.Start);
      await writeAll(this.file, bytes);
      await this.file.syncData();
    } catch (e) {
      // A record torn here is dropped when the journal is reopened.
      throw new EngramError(
        `cannot write ${this.path}: ${
          (e as Error).message
        }; free space, then rerun the same command to resume` +
          (this.done > 0 ? ` (it resumes after the ${this.done} rows recorded)` : ""),
      );
    }
    this.done += n;
  }

  /** Recorded rows whose first mismatch is `cont` (memorized), counted a chunk at a time. */
  async memorized(cont: number): Promise<number> {
    let count = 0;
    for await (const cols of this.chunks()) for (const f of cols.firstMismatch) if (f === cont) count++;
    return count;
  }

  /** The recorded rows in order, at most `chunkRows` at a time (memory stays bounded at any length). */
  async *chunks(chunkRows = 1 << 20): AsyncGenerator<ScoreColumns> {
    for (let at = 0; at < this.done; at += chunkRows) {
      yield await this.read(at, Math.min(chunkRows, this.done - at));
    }
  }

  /** Recorded rows [at, at + n). */
  private async read(at: number, n: number): Promise<ScoreColumns> {
    const bytes = new Uint8Array(n * RECORD);
    await readExactly(
      this.file!,
      this.dataStart + at * RECORD,
      bytes,
      this.path,
      "delete it to start this job over",
    );
    const view = new DataView(bytes.buffer);
    const cols: ScoreColumns = {
      index: new Float64Array(n),
      matches: new Int16Array(n),
      firstMismatch: new Int16Array(n),
      logprob: new Float32Array(n),
    };
    for (const { field, type, offset } of FIELDS) {
      const values = cols[field];
      switch (type) {
        case "f64":
          for (let i = 0; i < n; i++) values[i] = view.getFloat64(i * RECORD + offset, true);
          break;
        case "i16":
          for (let i = 0; i < n; i++) values[i] = view.getInt16(i * RECORD + offset, true);
          break;
        case "f32":
          for (let i = 0; i < n; i++) values[i] = view.getFloat32(i * RECORD + offset, true);
      }
    }
    return cols;
  }

  /** Closes the journal's file, keeping it on disk for a resumed run. */
  close(): void {
    this.file?.close();
    this.file = null;
  }

  /** Closes and deletes the journal, once its rows are safely in the final file. */
  async remove(): Promise<void> {
    const existed = this.file !== null;
    this.close();
    if (existed) await Deno.remove(this.path);
  }
}

/** How a journal's key differs from this run's: "its F was X, this run's is Y". */
function keyDifference(was: unknown, now: unknown): string {
  const d = firstDifference(was, now);
  return d
    ? `its ${d.field} was ${d.a ?? "absent"}, this run's is ${d.b ?? "absent"}`
    : "its key is written differently";
}

/** A finished scoring journal's rows as results batches: what `score` writes its final file from. The writer
 *  checks them under the journal's name, so that an edited or damaged journal is named as such (not the file it
 *  was to become). */
export function journalBatches(journal: Journal, prov: Provenance): NamedRows {
  return {
    source: `${journal.path} (this job's journal: delete it to score the job again)`,
    async *[Symbol.asyncIterator]() {
      for await (const cols of journal.chunks()) {
        yield {
          length: cols.index.length,
          index: cols.index,
          matches: prov.mode === "score" ? cols.matches : null,
          firstMismatch: cols.firstMismatch,
          logprob: prov.logprob ? cols.logprob : null,
        };
      }
    },
  };
}
