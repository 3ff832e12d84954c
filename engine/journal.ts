/**
 * The partial-results journal that makes scoring resumable: a header naming the job, then one fixed-size
 * record per scored row, appended a batch at a time and flushed to disk before the next batch starts.
 * A run killed at any moment (even kill -9) leaves whole records plus at most one torn one, which reopening
 * drops; the job restarted with the same arguments continues after the last whole record.
 *
 * Layout: "ENGRAMJ1", u32 header length, header JSON {key, created}, then records of 16 bytes:
 * f64 row index, i16 matches (-1 when not computed), i16 first mismatch, f32 mean log-prob (NaN when absent).
 */
import { EngramError } from "./errors.ts";
import type { ScoreSink } from "./memorization.ts";

const MAGIC = "ENGRAMJ1";
const RECORD = 16;

export interface ScoreColumns {
  index: Float64Array;
  matches: Int16Array; // -1: not computed (extractable mode)
  firstMismatch: Int16Array;
  logprob: Float32Array; // NaN: not computed
}

/** The resumable sink of `scoreRows` (engine/memorization.ts). */
export class Journal implements ScoreSink {
  private constructor(
    readonly path: string,
    private readonly file: Deno.FsFile,
    private readonly dataStart: number,
    /** Rows already recorded. */
    public done: number,
    /** When the job first started (kept across resumes). */
    readonly created: string,
  ) {}

  /**
   * Opens the journal at `path`, creating it for `key` or resuming it; a journal written for other arguments
   * is refused rather than mixed in.
   */
  static async open(path: string, key: unknown): Promise<Journal> {
    const keyText = JSON.stringify(key);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true });
    } catch (e) {
      throw new EngramError(`cannot open ${path}: ${(e as Error).message}; check the output folder`);
    }
    const size = (await file.stat()).size;
    if (size === 0) {
      const created = new Date().toISOString();
      const header = new TextEncoder().encode(JSON.stringify({ key, created }));
      const head = new Uint8Array(12 + header.length);
      head.set(new TextEncoder().encode(MAGIC));
      new DataView(head.buffer).setUint32(8, header.length, true);
      head.set(header, 12);
      try {
        await writeAll(file, head);
        await file.syncData();
      } catch (e) {
        file.close();
        await Deno.remove(path).catch(() => {});
        throw new EngramError(`cannot write ${path}: ${(e as Error).message}; free space and rerun`);
      }
      return new Journal(path, file, head.length, 0, created);
    }
    const fail = (why: string): never => {
      file.close();
      throw new EngramError(`${path}: ${why}; delete it to start this job over`);
    };
    const head = new Uint8Array(12);
    if (
      size < 12 || (await readAt(file, 0, head)) < 12 ||
      new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC
    ) {
      fail("not an engram partial-results journal");
    }
    const headerLength = new DataView(head.buffer).getUint32(8, true);
    if (12 + headerLength > size) fail("truncated journal header");
    const headerBytes = new Uint8Array(headerLength);
    await readAt(file, 12, headerBytes);
    let header: { key: unknown; created: string };
    try {
      header = JSON.parse(new TextDecoder().decode(headerBytes));
    } catch {
      return fail("corrupt journal header");
    }
    if (typeof header !== "object" || header === null || typeof header.created !== "string") {
      return fail("corrupt journal header");
    }
    if (JSON.stringify(header.key) !== keyText) {
      file.close();
      throw new EngramError(
        `${path} holds partial results of a run with other arguments; rerun with the same arguments to ` +
          `resume it, or delete it to start over`,
      );
    }
    const dataStart = 12 + headerLength;
    const done = Math.floor((size - dataStart) / RECORD);
    // Drop a record torn by a kill mid-write.
    await file.truncate(dataStart + done * RECORD);
    return new Journal(path, file, dataStart, done, header.created);
  }

  /** Appends rows [0, n) of `cols` and flushes them to disk. */
  async append(cols: ScoreColumns, n: number): Promise<void> {
    const bytes = new Uint8Array(n * RECORD);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) {
      view.setFloat64(i * RECORD, cols.index[i], true);
      view.setInt16(i * RECORD + 8, cols.matches[i], true);
      view.setInt16(i * RECORD + 10, cols.firstMismatch[i], true);
      view.setFloat32(i * RECORD + 12, cols.logprob[i], true);
    }
    try {
      await this.file.seek(this.dataStart + this.done * RECORD, Deno.SeekMode.Start);
      await writeAll(this.file, bytes);
      await this.file.syncData();
    } catch (e) {
      // A record torn here is dropped when the journal is reopened.
      throw new EngramError(
        `cannot write ${this.path}: ${
          (e as Error).message
        }; free space, then rerun the same command to resume`,
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
    await readAt(this.file, this.dataStart + at * RECORD, bytes);
    const view = new DataView(bytes.buffer);
    const cols: ScoreColumns = {
      index: new Float64Array(n),
      matches: new Int16Array(n),
      firstMismatch: new Int16Array(n),
      logprob: new Float32Array(n),
    };
    for (let i = 0; i < n; i++) {
      cols.index[i] = view.getFloat64(i * RECORD, true);
      cols.matches[i] = view.getInt16(i * RECORD + 8, true);
      cols.firstMismatch[i] = view.getInt16(i * RECORD + 10, true);
      cols.logprob[i] = view.getFloat32(i * RECORD + 12, true);
    }
    return cols;
  }

  close(): void {
    this.file.close();
  }

  /** Closes and deletes the journal, once its rows are safely in the final file. */
  async remove(): Promise<void> {
    this.close();
    await Deno.remove(this.path);
  }
}

/** Writes all of `bytes` at the file's position. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
}

/** Reads into `into` from byte `at`; returns how many bytes there were (fewer at the end of the file). */
export async function readAt(file: Deno.FsFile, at: number, into: Uint8Array): Promise<number> {
  await file.seek(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < into.length) {
    const n = await file.read(into.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}
