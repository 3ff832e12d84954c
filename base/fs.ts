// File helpers every layer shares (one home each): reads at a byte offset, whole writes, whether a file is there,
// and JSON read with a one-line error that names the file and says what to do.
import { EngramError, ensure } from "./errors.ts";

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

const endedEarly = (path: string, at: number, got: number, want: number, fix: string) => () =>
  `${path}: file ended at byte ${at + got}, expected ${want - got} more bytes (truncated or changed while ` +
  `open); ${fix}`;

/**
 * Fills `into` from byte `at` of `file` (`path`); a file that ends first is an EngramError that ends with `fix`
 * (what to do). The caller serializes access to `file`.
 */
export async function readExactly(
  file: Deno.FsFile,
  at: number,
  into: Uint8Array,
  path: string,
  fix: string,
): Promise<Uint8Array> {
  const got = await readAt(file, at, into);
  ensure(got === into.length, endedEarly(path, at, got, into.length, fix));
  return into;
}

/** `readExactly` without a promise: for readers that block on purpose (io/rows.ts says why). */
export function readExactlySync(
  file: Deno.FsFile,
  at: number,
  into: Uint8Array,
  path: string,
  fix: string,
): Uint8Array {
  file.seekSync(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < into.length) {
    const n = file.readSync(into.subarray(got));
    if (n === null) break;
    got += n;
  }
  ensure(got === into.length, endedEarly(path, at, got, into.length, fix));
  return into;
}

/** Writes all of `bytes` at the file's position. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
}

/** Whether a regular file (or a link to one) is at `path`; anything else, or nothing readable, is false. */
export async function isFile(path: string): Promise<boolean> {
  return (await Deno.stat(path).catch(() => null))?.isFile === true;
}

/** A parsed JSON object: not null and not an array. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses `text`; invalid JSON is the EngramError "`where` is not valid JSON (why); `fix`". */
export function parseJson(text: string, where: string, fix: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new EngramError(`${where} is not valid JSON (${(e as Error).message}); ${fix}`);
  }
}

/**
 * The parsed JSON file at `path`, or undefined when there is none; a file that cannot be read or parsed is an
 * EngramError (`parseJson`'s, naming it `where`).
 */
export async function readJsonFile(path: string, fix: string, where: string = path): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new EngramError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseJson(text, where, fix);
}
