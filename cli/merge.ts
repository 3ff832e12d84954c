// `cli.ts merge`: joins the shard files of one scoring job (--shard i/N) into one results file, checking that
// every shard is there once, that they come from the same job, and that no row is missing or repeated.
import { EngramError } from "../engine/errors.ts";
import { parseArgs } from "./args.ts";
import { type Provenance, readResults, type ScoreTable, writeResults } from "../io/results.ts";

export const MERGE_HELP = `deno run -A cli.ts merge --out FILE SHARD_FILE...
  Joins the results of --shard 0/N .. N-1/N into FILE (.parquet, .csv or .jsonl), after checking that the
  shards come from one job, none is missing or given twice, and their rows neither overlap nor leave gaps.`;

/** Provenance fields that must agree between shards of one job. */
const SAME = [
  "model",
  "revision",
  "config_hash",
  "data",
  "prompt",
  "continuation",
  "offset",
  "mode",
  "paper_compatible",
] as const;

export async function mergeShards(files: string[], out: string): Promise<{ rows: number }> {
  if (files.length === 0) throw new EngramError("merge: no shard files given");
  const parts: { file: string; table: ScoreTable; prov: Provenance; i: number; n: number }[] = [];
  for (const file of files) {
    const { table, provenance } = await readResults(file);
    const m = /^(\d+)\/(\d+)$/.exec(provenance?.shard ?? "");
    if (!provenance || !m) {
      throw new EngramError(
        `merge: ${file} is not a shard (its provenance has no "shard i/N"); score with --shard`,
      );
    }
    parts.push({ file, table, prov: provenance, i: Number(m[1]), n: Number(m[2]) });
  }
  const first = parts[0];
  for (const p of parts) {
    for (const field of SAME) {
      if (p.prov[field] !== first.prov[field]) {
        throw new EngramError(
          `merge: ${p.file} has ${field} ${JSON.stringify(p.prov[field])} but ${first.file} has ` +
            `${JSON.stringify(first.prov[field])}: shards of different jobs`,
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
  const rows = parts.reduce((s, p) => s + p.table.index.length, 0);
  const cont = first.table.continuation;
  const merged: ScoreTable = {
    index: new Float64Array(rows),
    matches: first.table.matches ? new Int16Array(rows) : null,
    firstMismatch: new Int16Array(rows),
    logprob: first.table.logprob ? new Float32Array(rows) : null,
    continuation: cont,
  };
  let at = 0;
  for (const p of parts) {
    const t = p.table;
    if (at > 0 && t.index.length > 0 && t.index[0] !== merged.index[at - 1] + 1) {
      const prev = merged.index[at - 1];
      const why = t.index[0] <= prev
        ? "overlaps the previous shard"
        : `leaves rows ${prev + 1}..${t.index[0] - 1} out`;
      throw new EngramError(`merge: ${p.file} starts at row ${t.index[0]}, which ${why}`);
    }
    merged.index.set(t.index, at);
    merged.firstMismatch.set(t.firstMismatch, at);
    if (merged.matches && t.matches) merged.matches.set(t.matches, at);
    if (merged.logprob && t.logprob) merged.logprob.set(t.logprob, at);
    at += t.index.length;
  }
  for (let i = 1; i < rows; i++) {
    if (merged.index[i] !== merged.index[i - 1] + 1) {
      throw new EngramError(
        `merge: rows are not contiguous at row ${merged.index[i - 1]} → ${merged.index[i]}`,
      );
    }
  }
  const { shard: _shard, ...rest } = first.prov;
  await writeResults(out, merged, { ...rest, rows });
  return { rows };
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
