// Files read a piece at a time (results files of any length never sit whole in memory) and fingerprinted; the
// writing side, outputs that appear whole or not at all, is base/atomic.ts.
import { rowSourceFiles } from "./rows.ts";
import { EngramError } from "../base/errors.ts";
import { readAt } from "../base/fs.ts";
import { sha256Hex } from "../base/hash.ts";

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

  /** Opens `path` (missing or unreadable: one EngramError line). */
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

  /** Closes the file. */
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

  /** The bytes kept from `keep` on and the file's next ones (see the class). */
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

  /** Closes the file. */
  close(): void {
    this.file.close();
  }
}
