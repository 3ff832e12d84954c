// Outputs that appear whole or not at all: written under a temporary name in the same folder (naming the run
// that writes it), synced and renamed into place; the temporary files a killed run left are found by that name.
// Every layer writes its outputs this way (engine/ its tuning files, io/ results files, cli/ the small ones).
import { EngramError } from "./errors.ts";
import { writeAll } from "./fs.ts";
import { basename, dirname, join } from "./path.ts";
import { isGone } from "./process.ts";

const CRC_TABLE = (() => {
  // Slicing by 4: table k maps a byte to its CRC contribution k bytes further on.
  const t = new Uint32Array(4 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 4; k++) {
      t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
    }
  }
  return t;
})();

/** CRC-32 (the zlib/PNG one: `python -c "import zlib; zlib.crc32(open(f,'rb').read())"` gives the same). */
export class Crc32 {
  private crc = 0xffffffff;
  /** Bytes seen so far. */
  bytes = 0;

  /** Adds `data` to the CRC. */
  update(data: Uint8Array): void {
    const t = CRC_TABLE;
    let c = this.crc, i = 0;
    const n4 = data.length & ~3;
    for (; i < n4; i += 4) {
      c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
      c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^ t[c >>> 24];
    }
    for (; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
    this.crc = c;
    this.bytes += data.length;
  }

  /** The CRC as 8 lowercase hex digits. */
  hex(): string {
    return ((this.crc ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
  }
}

/** The message of a failed write of `path` (`why`: the system's reason): what, where, what to do. */
export type WriteFailure = (path: string, why: string) => string;

const checkFolder: WriteFailure = (path, why) =>
  `cannot write ${path}: ${why}; check the folder and free space`;

const writeFailure = (path: string, e: unknown, failure: WriteFailure = checkFolder) =>
  e instanceof EngramError ? e : new EngramError(failure(path, (e as Error).message));

/**
 * An output file written under a temporary name (`openTemporary`) and renamed into place by `commit`: readers see the
 * old file or the whole new one, never part of it. Writes are buffered; the CRC-32 and length of what was
 * written are kept. `abort` (or any failed write) removes the temporary file.
 */
export class AtomicFile {
  /** The CRC-32 of what was written. */
  readonly crc = new Crc32();
  private buffer = new Uint8Array(1 << 20);
  private used = 0;
  private constructor(
    readonly path: string,
    readonly tmp: string,
    private file: Deno.FsFile | null,
    private readonly failure: WriteFailure,
  ) {}

  /** Opens the temporary file of `path`; `failure` words the EngramError of any failed write (by default: check
   *  the folder and free space). */
  static async create(path: string, failure: WriteFailure = checkFolder): Promise<AtomicFile> {
    try {
      const { tmp, file } = await openTemporary(path);
      return new AtomicFile(path, tmp, file, failure);
    } catch (e) {
      throw writeFailure(path, e, failure);
    }
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.crc.bytes;
  }

  /** Appends `data` (buffered). */
  async write(data: Uint8Array): Promise<void> {
    this.crc.update(data);
    if (this.used + data.length <= this.buffer.length) {
      this.buffer.set(data, this.used);
      this.used += data.length;
      return;
    }
    await this.flush();
    if (data.length >= this.buffer.length) await this.raw(data);
    else {
      this.buffer.set(data);
      this.used = data.length;
    }
  }

  /** Writes out the buffer. */
  private async flush(): Promise<void> {
    if (this.used > 0) await this.raw(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  /** Writes `data` to the temporary file; a failure aborts (removes it). */
  private async raw(data: Uint8Array): Promise<void> {
    try {
      await writeAll(this.file!, data);
    } catch (e) {
      await this.abort();
      throw writeFailure(this.path, e, this.failure);
    }
  }

  /** Flushes, syncs and closes the temporary file (it is not yet visible under `path`). */
  async close(): Promise<void> {
    await this.flush();
    try {
      await this.file!.syncData();
      this.file!.close();
      this.file = null;
    } catch (e) {
      await this.abort();
      throw writeFailure(this.path, e, this.failure);
    }
  }

  /** Closes (if still open) and renames the temporary file to `path`. */
  async commit(): Promise<void> {
    if (this.file) await this.close();
    try {
      await Deno.rename(this.tmp, this.path);
    } catch (e) {
      await this.abort();
      throw writeFailure(this.path, e, this.failure);
    }
  }

  /** Drops the temporary file; the final name is left as it was. */
  async abort(): Promise<void> {
    try {
      this.file?.close();
    } catch {
      // already closed
    }
    this.file = null;
    await Deno.remove(this.tmp).catch(() => {});
  }
}

/** Temporary files made by this process, numbering their names. */
let temporaries = 0;

/** This host's name as temporary names hold it: letters, digits, ".", "_" and "-" (anything else as "_"). */
const hostTag = () => Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "_");

/** `.<name>.tmp-<host>-<pid>-<n>`: the file it is to become, and the run that writes it (as a lock names it). */
const TEMPORARY_NAME = /^\.(.+)\.tmp-([A-Za-z0-9._-]+)-(\d+)-(\d+)$/;

/**
 * A temporary file of `path` (`<dir>/.<name>.tmp-<host>-<pid>-<n>`: a name of its own even for two writers of one
 * path in one process, naming the run that writes it so that what a killed run leaves can be told from what a
 * live one is writing: `removeDeadTemporaries`), created empty with its folder; errors as thrown.
 */
async function openTemporary(path: string): Promise<{ tmp: string; file: Deno.FsFile }> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${hostTag()}-${Deno.pid}-${++temporaries}`);
  await Deno.mkdir(dirname(path), { recursive: true });
  return { tmp, file: await Deno.open(tmp, { write: true, create: true, truncate: true }) };
}

/** What `removeDeadTemporaries` removed. */
export interface RemovedTemporaries {
  /** The files removed. */
  files: string[];
  /** Their bytes together. */
  bytes: number;
  /** The runs that left them (process ids on this host). */
  pids: number[];
}

/**
 * Removes the temporary files in `dir` of runs on this host that no longer exist (killed while writing a
 * results file: each can be as large as the file). Those of live runs, of other hosts (whose processes cannot be
 * checked from here) and other files stay. A folder that cannot be listed removes nothing.
 */
export async function removeDeadTemporaries(dir: string): Promise<RemovedTemporaries> {
  const host = hostTag();
  const out: RemovedTemporaries = { files: [], bytes: 0, pids: [] };
  const entries: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.startsWith(".")) entries.push(e.name);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const m = TEMPORARY_NAME.exec(name);
    if (!m || m[2] !== host) continue;
    const pid = Number(m[3]);
    if (pid === Deno.pid || !isGone(pid)) continue;
    const path = join(dir, name);
    const size = await Deno.stat(path).then((i) => i.size, () => 0);
    if (!await Deno.remove(path).then(() => true, () => false)) continue;
    out.files.push(path);
    out.bytes += size;
    if (!out.pids.includes(pid)) out.pids.push(pid);
  }
  return out;
}

/** One line on what `removeDeadTemporaries` removed, for stderr; null when nothing. */
export function describeRemovedTemporaries(dir: string, r: RemovedTemporaries): string | null {
  if (r.files.length === 0) return null;
  const n = r.files.length;
  return `removed ${n} temporary file${n > 1 ? "s" : ""} (${(r.bytes / 1e6).toFixed(1)} MB) that ${
    r.pids.length > 1 ? "runs" : "a run"
  } killed while writing left in ${dir} (pid ${r.pids.join(", ")} on this host)`;
}

/** Fails now, not after a long run, when a file cannot be written at `path` (`flag` names it in the message):
 *  its temporary file is made and removed, as AtomicFile will. */
export async function checkWritable(path: string, flag: string): Promise<void> {
  if ((await Deno.stat(path).catch(() => null))?.isDirectory) {
    throw new EngramError(`${flag} ${path} is a folder; pass a file path`);
  }
  try {
    const { tmp, file } = await openTemporary(path);
    file.close();
    await Deno.remove(tmp);
  } catch (e) {
    throw new EngramError(`${flag} ${path} cannot be written (${(e as Error).message}); pass another path`);
  }
}

/** Writes a small text file atomically (whole or not at all); `failure` as in `AtomicFile.create`. */
export async function writeTextAtomic(path: string, text: string, failure?: WriteFailure): Promise<void> {
  const out = await AtomicFile.create(path, failure);
  await out.write(new TextEncoder().encode(text));
  await out.commit();
}
