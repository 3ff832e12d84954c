// `cli.ts merge`: joins the shard files of one scoring job (io/merge.ts).
import { EngramError } from "../engine/errors.ts";
import { mergeShards } from "../io/merge.ts";
import { parseArgs } from "./args.ts";

const MERGE_HELP = `./engram merge --out FILE SHARD_FILE...
  Joins the results of --shard 0/N .. N-1/N into FILE (.parquet, .csv or .jsonl), after checking that the
  shards come from one job (every provenance field that decides the results agrees), none is missing or given
  twice, and each holds exactly its share of the job's rows. FILE must not be one of the shards.`;

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
