// Joins the shard files of one scoring job (--shard i/N) into one results file (`cli.ts merge`), checking that
// every shard is there once, that they come from the same job, and that no row is missing or repeated.
// Shards are read and written a batch at a time (files of any length, bounded memory).
import { EngramError } from "../base/errors.ts";
import { basename, dirname, join, resolve } from "../base/path.ts";
import {
  firstDifference,
  MAY_DIFFER_IN_MERGE,
  type NamedRows,
  openResults,
  parseShard,
  type Provenance,
  provenancePath,
  type ResultsReader,
  type WriteOptions,
  writeRowsCheckedAsRead,
} from "./results.ts";

interface Shard {
  file: string;
  reader: ResultsReader;
  prov: Provenance;
  i: number;
  n: number;
}

/** The file's identity: its device and inode when it exists, else the real path it would have. */
async function identity(path: string): Promise<string> {
  try {
    const info = await Deno.stat(path);
    return `${info.dev}:${info.ino}`;
  } catch {
    try {
      return join(await Deno.realPath(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

const SIDECAR = provenancePath("");

/**
 * The shard files among `paths` as a shell glob gives them (`dir/*.shard-*` matches each CSV/JSONL shard's
 * `<file>.provenance.json` too): a sidecar whose data file is also given is left out (read with its data) and
 * listed in `skipped`; one whose data file is not given is refused, naming the file to pass instead, as are a
 * running or killed shard's journal (`.partial`) and lock (`.lock`).
 */
export function shardFiles(paths: string[]): { files: string[]; skipped: string[] } {
  const given = new Set(paths.map((p) => resolve(p)));
  const files: string[] = [], skipped: string[] = [];
  for (const path of paths) {
    // A glob over a folder where shards are still being scored meets their journals and locks too.
    if (path.endsWith(".partial") || path.endsWith(".lock")) {
      const shard = path.slice(0, path.lastIndexOf("."));
      throw new EngramError(
        `merge: ${path} is the ${
          path.endsWith(".lock") ? "lock of a run writing" : "journal of an unfinished run of"
        } ${shard}; merge once every shard's run has finished (a killed one: run its score command again)`,
      );
    }
    if (!path.endsWith(SIDECAR)) {
      files.push(path);
      continue;
    }
    const data = path.slice(0, -SIDECAR.length);
    if (!given.has(resolve(data))) {
      throw new EngramError(
        `merge: ${path} is the provenance of ${data}, which is not among the shards given; pass ${data}`,
      );
    }
    skipped.push(path);
  }
  return { files, skipped };
}

/** How `mergeShards` writes its output. */
export interface MergeOptions extends WriteOptions {
  /** Replace an existing `out` (by default an existing file is refused: it may be another job's results). */
  force?: boolean;
}

/** What an existing results file holds, for the message that refuses to replace it. */
async function describe(path: string): Promise<string> {
  try {
    const p = await openResults(path).then((r) => r.provenance);
    if (!p) return "a results file without provenance";
    return `results of ${p.model}@${p.revision}, ${p.rows} rows from ${p.start}${
      p.shard ? `, shard ${p.shard}` : ""
    }`;
  } catch {
    return "not a results file engram can read";
  }
}

/**
 * Merges the shard files `files` (any order) of one job into `out` (.parquet, .csv or .jsonl), which appears
 * whole or not at all; returns its row count. Shards of different jobs, a missing or repeated shard, a shard
 * that does not hold exactly its share of the rows, `out` being one of the shards, or `out` existing already
 * (unless `force`) is an EngramError.
 */
export async function mergeShards(
  files: string[],
  out: string,
  options: MergeOptions = {},
): Promise<{ rows: number }> {
  if (files.length === 0) throw new EngramError("merge: no shard files given");
  const target = await identity(out);
  for (const file of files) {
    if (await identity(file) === target) {
      throw new EngramError(
        `merge: --out ${out} is the shard ${file}; write the merged file under another name`,
      );
    }
  }
  if (!options.force && await Deno.lstat(out).then(() => true, () => false)) {
    throw new EngramError(
      `merge: --out ${out} already exists (${await describe(
        out,
      )}); pass --force to replace it, or another --out`,
    );
  }
  const parts: Shard[] = [];
  for (const file of files) {
    const reader = await openResults(file);
    const prov = reader.provenance;
    if (!prov || prov.shard === undefined) {
      throw new EngramError(
        `merge: ${file} is not a shard (its provenance has no "shard i/N"); score with --shard`,
      );
    }
    const [i, n] = parseShard(prov.shard)!;
    parts.push({ file, reader, prov, i, n });
  }
  const first = parts[0];
  for (const p of parts) {
    const d = firstDifference(first.prov, p.prov, MAY_DIFFER_IN_MERGE);
    if (d) {
      throw new EngramError(
        `merge: ${p.file} has ${d.field} ${d.b ?? "(none)"} but ${first.file} has ${d.a ?? "(none)"}: ` +
          `shards of different jobs cannot be merged`,
      );
    }
    if (p.n !== first.n) {
      throw new EngramError(`merge: ${p.file} is shard ${p.i}/${p.n}, ${first.file} of /${first.n}`);
    }
  }
  const seen = new Map<number, string>();
  for (const p of parts) {
    const other = seen.get(p.i);
    if (other) throw new EngramError(`merge: shard ${p.i}/${p.n} given twice (${other} and ${p.file})`);
    seen.set(p.i, p.file);
  }
  // Each shard is given once and i < N, so N - parts.length are missing; the message names the first few (N may be
  // in the millions, past what a JS array or one line holds).
  const absent = first.n - parts.length;
  if (absent > 0) {
    const named: number[] = [];
    for (let i = 0; named.length < Math.min(absent, 10); i++) if (!seen.has(i)) named.push(i);
    const more = absent > named.length ? ` and ${absent - named.length} more` : "";
    throw new EngramError(
      `merge: missing shard${absent > 1 ? "s" : ""} ${named.join(", ")}${more} of ${first.n}`,
    );
  }
  parts.sort((a, b) => a.i - b.i);
  const distinct = (field: "adapter" | "kernels" | "engram_version") =>
    [...new Set(parts.map((p) => p.prov[field]).filter((v) => v !== undefined))].join("; ");
  const { shard: _shard, ...job } = parts[0].prov;
  const merged: Provenance = {
    ...job,
    rows: job.count,
    adapter: distinct("adapter"),
    engram_version: distinct("engram_version"),
    ...(parts.some((p) => p.prov.kernels !== undefined) ? { kernels: distinct("kernels") } : {}),
    created: parts.map((p) => p.prov.created).sort()[0],
  };
  // Each shard's reader checks every row as it streams by (messages name the shard), its indices exactly its share
  // of [start, start + count); the shards are all there, in order, so together they are exactly the job's rows
  // and the writer checks no row again (only where each batch starts and ends). The writer is done with a batch
  // when it asks for the next, so the readers reuse their arrays.
  const rows: NamedRows = {
    source: `the shards merged into ${out}`,
    async *[Symbol.asyncIterator]() {
      for (const p of parts) yield* p.reader.batches({ reuse: true });
    },
  };
  const { rows: n } = await writeRowsCheckedAsRead(out, merged, rows, options);
  return { rows: n };
}
