// `cli.ts merge`: joins the shard files of one scoring job (io/merge.ts).
import { EngramError } from "../base/errors.ts";
import { mergeShards, shardFiles } from "../io/merge.ts";
import { describeRemovedTemporaries, removeDeadTemporaries } from "../base/atomic.ts";
import { dirname } from "../base/path.ts";
import { parseArgs } from "./args.ts";

const MERGE_HELP = `./engram merge --out FILE SHARD_FILE...
  Joins the results of --shard 0/N .. N-1/N into FILE (.parquet, .csv or .jsonl), after checking that the
  shards come from one job (every provenance field that decides the results agrees), none is missing or given
  twice, and each holds exactly its share of the job's rows. FILE must not be one of the shards, nor exist
  already (--force replaces it). A CSV/JSONL shard's FILE.provenance.json given with it (as dir/*.shard-*
  gives them) is skipped: it is read with its data; a shard's journal (.partial) or lock is refused.`;

/** `./engram merge` on `argv`. */
export async function mergeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs(
    argv,
    { out: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean" } },
    "merge",
  );
  if (values.help) return console.log(MERGE_HELP);
  if (!values.out) throw new EngramError("merge: --out FILE is required");
  const { files, skipped } = shardFiles(positionals);
  if (skipped.length > 0) {
    console.error(
      `merge: skipped ${skipped.length} provenance sidecar${skipped.length > 1 ? "s" : ""} given beside ` +
        `${skipped.length > 1 ? "their" : "its"} data (${skipped[0]}${skipped.length > 1 ? ", ..." : ""})`,
    );
  }
  const dir = dirname(values.out);
  const removed = describeRemovedTemporaries(dir, await removeDeadTemporaries(dir));
  if (removed) console.error(`merge: ${removed}`);
  const { rows } = await mergeShards(files, values.out, { force: values.force });
  console.error(`merge: ${files.length} shards, ${rows} rows → ${values.out}`);
}
