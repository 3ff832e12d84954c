// The tokens EleutherAI's memorized-evals lists carry (each listed row's first 64 tokens, a list<int64> column),
// read for a few rows: the report decodes its memorized samples from them, so no training data is needed.
import type { FileMetaData } from "hyparquet";
import { EngramError } from "../engine/errors.ts";
import { FileBytes } from "./files.ts";
import { importLazily } from "./lazy.ts";
import { ParquetFile } from "./parquet.ts";

/**
 * The `tokens` of the rows whose `index` is one of `wanted`, from the lists at `paths` (the first file that lists
 * a row gives it): index → tokens. Each file's index column is scanned (flat, a row group at a time); then the
 * tokens of each row found are read alone through hyparquet (ParquetFile decodes flat columns only; a handful of
 * rows is read, so hyparquet's reading of the row group's column chunk per row is paid a few times, not per row
 * of the list).
 */
export async function listedTokens(
  paths: string[],
  wanted: ArrayLike<number>,
): Promise<Map<number, number[]>> {
  const want = new Set(Array.from(wanted)), out = new Map<number, number[]>();
  for (const path of paths) {
    if (out.size === want.size) break;
    const found: { index: number; row: number }[] = [], here = new Set<number>();
    for await (const b of (await ParquetFile.open(path)).batches(["index"], { reuse: true })) {
      const index = b.columns.get("index")!;
      for (let i = 0; i < b.length; i++) {
        const x = index[i];
        if (want.has(x) && !out.has(x) && !here.has(x)) {
          here.add(x);
          found.push({ index: x, row: b.rowStart + i });
        }
      }
    }
    if (found.length === 0) continue;
    const { parquetMetadataAsync, parquetReadObjects } = await importLazily<typeof import("hyparquet")>(
      "hyparquet",
    );
    const file = await FileBytes.open(path);
    try {
      let metadata: FileMetaData;
      try {
        metadata = await parquetMetadataAsync(file);
      } catch (e) {
        throw new EngramError(`${path}: not a readable Parquet file (${(e as Error).message})`);
      }
      for (const { index, row } of found) {
        let tokens: unknown;
        try {
          const rows = await parquetReadObjects({
            file,
            metadata,
            columns: ["tokens"],
            rowStart: row,
            rowEnd: row + 1,
            useOffsetIndex: true,
          });
          tokens = rows[0]?.tokens;
        } catch (e) {
          throw new EngramError(
            `${path}: the tokens of row ${row + 1} (index ${index}) cannot be read (${
              (e as Error).message
            }); ` +
              `is this a memorized-evals list (index, tokens)? fetch the file again`,
          );
        }
        out.set(index, tokenIds(tokens, path, row, index));
      }
    } finally {
      file.close();
    }
  }
  return out;
}

/** A list of token ids (int64 as bigint or number), checked: integers in [0, 2^32). */
function tokenIds(value: unknown, path: string, row: number, index: number): number[] {
  const bad = (what: string) =>
    new EngramError(
      `${path}: row ${row + 1} (index ${index}) has ${what} as its tokens; a memorized-evals list holds ` +
        `each row's first 64 token ids`,
    );
  if (!Array.isArray(value)) throw bad(value === null || value === undefined ? "no value" : typeof value);
  return value.map((v) => {
    const t = Number(v);
    if (!(Number.isInteger(t) && t >= 0 && t < 2 ** 32)) throw bad(`the value ${v}`);
    return t;
  });
}
