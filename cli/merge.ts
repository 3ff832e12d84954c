// `cli.ts merge`: joins the shard files of one scoring job (--shard i/N) into one results file, checking that
// every shard is there once, that they come from the same job, and that no row is missing or repeated.
// Shards are read and written a batch at a time (files of any length, bounded memory).
import { EngramError } from "../engine/errors.ts";
import { basename, dirname, join, resolve } from "../engine/path.ts";
import { parseArgs } from "./args.ts";
import {
  openResults,
  parseShard,
  type Provenance,
  type ResultsBatch,
  type ResultsReader,
  type WriteOptions,
  writeResultsStream,
} from "../io/results.ts";

export const MERGE_HELP = `./engram merge --out FILE SHARD_FILE...
  Joins the results of --shard 0/N .. N-1/N into FILE (.parquet, .csv or .jsonl), after checking that the
  shards come from one job (every provenance field that decides the results agrees), none is missing or given
  twice, and each holds exactly its share of the job's rows. FILE must not be one of the shards.`;

/**
 * Provenance fields that may differ between the shards of one job: which shard and how many rows (by design),
 * when, on which adapter, with which matmul variants and by which engram version each ran (results do not
 * depend on them: every variant sums in the same order). The merged provenance keeps the earliest `created`
 * and lists every distinct adapter, variant set and engram version, "; "-separated.
 * Every other field (model, revision, model_path, params, config_hash, data, prompt, continuation, offset, mode,
 * paper_compatible, logprob, start, count, and any field a later version adds) must be equal.
 */
const MAY_DIFFER = new Set(["shard", "rows", "created", "adapter", "kernels", "engram_version"]);

interface Shard {
  file: string;
  reader: ResultsReader;
  prov: Provenance;
  i: number;
  n: number;
}

/** The file's identity: its real path and inode when it exists, else the real path it would have. */
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

export async function mergeShards(
  files: string[],
  out: string,
  options: WriteOptions = {},
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
    const fields = new Set([...Object.keys(first.prov), ...Object.keys(p.prov)]);
    for (const field of fields) {
      if (MAY_DIFFER.has(field)) continue;
      const a = JSON.stringify((first.prov as unknown as Record<string, unknown>)[field]);
      const b = JSON.stringify((p.prov as unknown as Record<string, unknown>)[field]);
      if (a !== b) {
        throw new EngramError(
          `merge: ${p.file} has ${field} ${b ?? "(none)"} but ${first.file} has ${
            a ?? "(none)"
          }: shards of ` +
            `different jobs cannot be merged`,
        );
      }
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
  const missing = Array.from({ length: first.n }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length) {
    throw new EngramError(
      `merge: missing shard${missing.length > 1 ? "s" : ""} ${missing.join(", ")} of ${first.n}`,
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
  // Each shard's reader checks its rows against its share of [start, start + count) as they stream by, and the
  // writer checks the whole range: together no row is missing or repeated, at the ends of the range included.
  async function* rows(): AsyncGenerator<ResultsBatch> {
    for (const p of parts) yield* p.reader.batches();
  }
  const { rows: n } = await writeResultsStream(out, merged, rows(), options);
  return { rows: n };
}

export async function mergeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs(
    argv,
    { out: { type: "string" }, help: { type: "boolean" } },
    "merge",
  );
  if (values.help) return console.log(MERGE_HELP);
  if (!values.out) throw new EngramError("merge: --out FILE is required");
  const { rows } = await mergeShards(positionals, values.out);
  console.error(`merge: ${positionals.length} shards, ${rows} rows → ${values.out}`);
}
