// Files read and written a piece at a time (results files of any length never sit whole in memory), and
// outputs that appear whole or not at all: written under a temporary name in the same folder, synced, renamed.
import { rowSourceFiles } from "../engine/data.ts";
import { EngramError } from "../base/errors.ts";
import { readAt, writeAll } from "../base/fs.ts";
import { sha256Hex } from "../base/hash.ts";
import { basename, dirname, join } from "../base/path.ts";
import { isGone } from "./lock.ts";

/** Opens `path` for reading; a missing or unreadable file is one EngramError line. */
export async function openForReading(path: string): Promise<Deno.FsFile> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new EngramError(`${path} is not a regular file; pass a results file`);
    return await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof EngramError) throw e;
    if (e instanceof Deno.errors.NotFound) throw new EngramError(`${path} not found; check the path`);
    throw new EngramError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The size of the file at `path` in bytes (missing or unreadable: one EngramError line). */
export async function fileSize(path: string): Promise<number> {
  const file = await openForReading(path);
  try {
    return (await file.stat()).size;
  } finally {
    file.close();
  }
}

/**
 * A fingerprint of the contents of `paths` (in order): SHA-256 over each file's size and `blocks` blocks of
 * 64 KiB spread evenly over it (the first and the last included), as 32 hex digits. It tells apart files
 * replaced at the same path (another checkpoint behind a repointed link, data rewritten in place) for the
 * cost of ~1 MiB read a file, whatever its size, and is the same for copies elsewhere. An edit that touches
 * none of the sampled blocks goes unseen. An item that is a list of paths is one file, their concatenation
 * (a .bin published in slices), so its fingerprint is the concatenated file's.
 */
export async function sampledFingerprint(
  paths: (string | readonly string[])[],
  blocks = 16,
): Promise<string> {
  const BLOCK = 65536;
  const parts: Uint8Array[] = [];
  for (const item of paths) {
    const file = await ConcatenatedFile.open(typeof item === "string" ? [item] : item);
    try {
      const size = file.size;
      parts.push(new TextEncoder().encode(`${size};`));
      const last = Math.max(0, size - BLOCK);
      for (let b = 0; b < blocks; b++) {
        const at = blocks === 1 ? 0 : Math.round((last * b) / (blocks - 1));
        const block = new Uint8Array(Math.min(BLOCK, size));
        parts.push(block.subarray(0, await file.readAt(at, block)));
        if (size <= BLOCK) break; // one block holds the whole file
      }
    } finally {
      file.close();
    }
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, (at += p.length) - p.length);
  return await sha256Hex(all, 32);
}

/** The sampled fingerprint of the rows at `data` (see rowSourceFiles): a Megatron dataset's .idx and its .bin,
 *  whose slices, where it is published in slices, count as the one file they make, so sliced and whole copies of
 *  the same data have the same fingerprint. */
export function rowSourceFingerprint(data: string): Promise<string> {
  const [first, ...rest] = rowSourceFiles(data);
  return sampledFingerprint(rest.length > 0 ? [first, rest] : [first]);
}

/** Files read as their concatenation, at any offset. */
class ConcatenatedFile {
  private constructor(private readonly files: Deno.FsFile[], private readonly sizes: number[]) {}

  static async open(paths: readonly string[]): Promise<ConcatenatedFile> {
    const files: Deno.FsFile[] = [], sizes: number[] = [];
    try {
      for (const path of paths) {
        files.push(await openForReading(path));
        sizes.push((await files.at(-1)!.stat()).size);
      }
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
    return new ConcatenatedFile(files, sizes);
  }

  get size(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }

  /** Reads into `into` from byte `at` of the concatenation; returns how many bytes there were. */
  async readAt(at: number, into: Uint8Array): Promise<number> {
    let got = 0, start = 0;
    for (const [k, size] of this.sizes.entries()) {
      const pos = at + got;
      if (got < into.length && pos < start + size) {
        const n = await readAt(this.files[k], pos - start, into.subarray(got, got + start + size - pos));
        got += n;
        if (pos - start + n < size) return got; // the file ended early (changed while read)
      }
      start += size;
    }
    return got;
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

/**
 * A file read at any offset: hyparquet's AsyncBuffer (`byteLength`, `slice`). Reads are queued one at a time
 * because they share one file position.
 */
export class FileBytes {
  private queue: Promise<unknown> = Promise.resolve();
  private constructor(
    readonly path: string,
    private readonly file: Deno.FsFile,
    readonly byteLength: number,
  ) {}

  static async open(path: string): Promise<FileBytes> {
    const file = await openForReading(path);
    return new FileBytes(path, file, (await file.stat()).size);
  }

  /** Bytes [start, end) (end defaults to the end of the file). */
  slice(start: number, end = this.byteLength): Promise<ArrayBuffer> {
    const read = this.queue.then(async () => {
      const bytes = new Uint8Array(Math.max(0, Math.min(end, this.byteLength) - start));
      const got = await readAt(this.file, start, bytes).catch((e) => {
        throw new EngramError(`cannot read ${this.path}: ${(e as Error).message}`);
      });
      if (got < bytes.length) throw new EngramError(`${this.path}: the file ended early (was it truncated?)`);
      return bytes.buffer;
    });
    this.queue = read.catch(() => {});
    return read;
  }

  close(): void {
    this.file.close();
  }
}

/**
 * A file read front to back through one reused buffer (a fresh buffer per read costs more than the read).
 * `next(keep)` keeps the bytes of the current view from `keep` on (a record cut by the end of the last read),
 * appends the file's next bytes and returns the new view, valid until the next call.
 */
export class ByteStream {
  private buffer: Uint8Array;
  private length = 0;
  /** True once the end of the file has been read. */
  done = false;

  private constructor(
    readonly path: string,
    private readonly file: Deno.FsFile,
    private readonly chunkBytes: number,
    private readonly observe?: (bytes: Uint8Array) => void,
  ) {
    // Room for a chunk and the cut record kept before it.
    this.buffer = new Uint8Array(2 * chunkBytes);
  }

  /** Opens `path`; `observe` sees every byte once, in order, as it is read. */
  static async open(
    path: string,
    chunkBytes = 8 << 20,
    observe?: (bytes: Uint8Array) => void,
  ): Promise<ByteStream> {
    const file = await openForReading(path);
    // Small files get a buffer of their size (plus one byte, to see the end in one read).
    const size = Math.max(16, Math.min(chunkBytes, (await file.stat()).size + 1));
    return new ByteStream(path, file, size, observe);
  }

  async next(keep: number): Promise<Uint8Array> {
    const kept = this.length - keep;
    if (kept + this.chunkBytes > this.buffer.length) {
      // A record longer than a chunk: room for it and one more chunk.
      const grown = new Uint8Array(kept + this.chunkBytes);
      grown.set(this.buffer.subarray(keep, this.length));
      this.buffer = grown;
    } else this.buffer.copyWithin(0, keep, this.length);
    this.length = kept;
    const end = kept + this.chunkBytes;
    while (!this.done && this.length < end) {
      const n = await this.file.read(this.buffer.subarray(this.length, end)).catch((e) => {
        throw new EngramError(`cannot read ${this.path}: ${(e as Error).message}`);
      });
      if (n === null) this.done = true;
      else {
        this.observe?.(this.buffer.subarray(this.length, this.length + n));
        this.length += n;
      }
    }
    return this.buffer.subarray(0, this.length);
  }

  close(): void {
    this.file.close();
  }
}

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

const writeFailure = (path: string, e: unknown) =>
  e instanceof EngramError
    ? e
    : new EngramError(`cannot write ${path}: ${(e as Error).message}; check the folder and free space`);

/**
 * An output file written under a temporary name (`openTemporary`) and renamed into place by `commit`: readers see the
 * old file or the whole new one, never part of it. Writes are buffered; the CRC-32 and length of what was
 * written are kept. `abort` (or any failed write) removes the temporary file.
 */
export class AtomicFile {
  readonly crc = new Crc32();
  private buffer = new Uint8Array(1 << 20);
  private used = 0;
  private constructor(readonly path: string, readonly tmp: string, private file: Deno.FsFile | null) {}

  static async create(path: string): Promise<AtomicFile> {
    try {
      const { tmp, file } = await openTemporary(path);
      return new AtomicFile(path, tmp, file);
    } catch (e) {
      throw writeFailure(path, e);
    }
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.crc.bytes;
  }

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

  private async flush(): Promise<void> {
    if (this.used > 0) await this.raw(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  private async raw(data: Uint8Array): Promise<void> {
    try {
      await writeAll(this.file!, data);
    } catch (e) {
      await this.abort();
      throw writeFailure(this.path, e);
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
      throw writeFailure(this.path, e);
    }
  }

  /** Closes (if still open) and renames the temporary file to `path`. */
  async commit(): Promise<void> {
    if (this.file) await this.close();
    try {
      await Deno.rename(this.tmp, this.path);
    } catch (e) {
      await this.abort();
      throw writeFailure(this.path, e);
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

/** Writes a small text file atomically (whole or not at all). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const out = await AtomicFile.create(path);
  await out.write(new TextEncoder().encode(text));
  await out.commit();
}
