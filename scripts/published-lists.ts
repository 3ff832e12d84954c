// Writes fixtures/published/data/: memorized-evals lists laid out as EleutherAI publishes them
// (EleutherAI/pythia-memorized-evals: data/<split>-0000k-of-0000N-<hash>.parquet with columns index int64,
// tokens list<int64> of a row's first 64 tokens, __index_level_0__ int64 = index), from the pico fixture's rows,
// written by DuckDB. The rows each list holds are arbitrary but distinct, so a test can tell the lists apart:
//   duped.160m        rows r with r % 97 == 3
//   deduped.1b        rows r with r % 61 == 0
//   deduped.1b.new    rows r with r % 53 == 1, in two files (as the published deduped.1b.new)
// Also fixtures/published/pages/: larger lists (5,000 rows of 1..70 tokens, row groups of 2,048 rows, each codec)
// for the page-by-page reader's test (tests/published_lists_test.ts).
// Run: deno run -A --no-lock scripts/published-lists.ts (DuckDB stays out of deno.lock: see bench/scale/report.ts)
import { MegatronDataset } from "../io/rows.ts";
import { join } from "../base/path.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const OUT = join(ROOT, "fixtures/published/data");
/** The codecs of the page-by-page reader's fixtures. */
const PAGE_CODECS = ["snappy", "uncompressed", "gzip", "zstd"];
const data = await MegatronDataset.open(join(ROOT, "fixtures/pico/data/pico_document"));
const rows = (keep: (r: number) => boolean) => Array.from({ length: data.numRows }, (_, r) => r).filter(keep);

const lists: { split: string; files: number[][]; hash: string }[] = [
  { split: "duped.160m", files: [rows((r) => r % 97 === 3)], hash: "3f1c0a9d2b7e4c15" },
  { split: "deduped.1b", files: [rows((r) => r % 61 === 0)], hash: "a0d4e2c96b1f7358" },
];
const newer = rows((r) => r % 53 === 1), half = Math.ceil(newer.length / 2);
lists.push({
  split: "deduped.1b.new",
  files: [newer.slice(0, half), newer.slice(half)],
  hash: "86e948f5c2689f6a",
});

await Deno.remove(OUT, { recursive: true }).catch(() => {});
await Deno.mkdir(OUT, { recursive: true });
/** The little of @duckdb/node-api this script uses; its specifier is built at run time to keep it out of the lock. */
interface DuckModule {
  DuckDBInstance: {
    create(path: string): Promise<{ connect(): Promise<{ run(sql: string): Promise<unknown> }> }>;
  };
}
const specifier = ["npm:@duckdb/node-api", "1.5.6-r.1"].join("@");
const { DuckDBInstance } = await import(specifier) as DuckModule;
const db = await (await DuckDBInstance.create(":memory:")).connect();
for (const { split, files, hash } of lists) {
  for (const [k, indices] of files.entries()) {
    const tokens = await data.read(indices, 0, 64);
    const values = indices.map((index, i) =>
      `(${index}, [${Array.from(tokens.subarray(i * 64, (i + 1) * 64)).join(",")}]::BIGINT[], ${index})`
    );
    const name = `${split}-${String(k).padStart(5, "0")}-of-${
      String(files.length).padStart(5, "0")
    }-${hash}.parquet`;
    await db.run(
      `COPY (SELECT index::BIGINT AS index, tokens, i0::BIGINT AS __index_level_0__ FROM (VALUES ${
        values.join(",")
      }) t(index, tokens, i0)) TO '${join(OUT, name)}' (FORMAT parquet)`,
    );
    console.log(`${name}: ${indices.length} rows`);
  }
}
data.close();

// The page-by-page reader's lists: index (i * 7919) % N out of order, tokens of 1 + (i * 7) % 70 values, some past
// 2^32 (tests/published_lists_test.ts computes the same values independently).
const PAGES = join(ROOT, "fixtures/published/pages"), N = 5000;
await Deno.remove(PAGES, { recursive: true }).catch(() => {});
await Deno.mkdir(PAGES, { recursive: true });
for (const codec of PAGE_CODECS) {
  const path = join(PAGES, `deduped.70m-${codec}.parquet`);
  await db.run(
    `COPY (SELECT ((i * 7919) % ${N})::BIGINT AS index, ` +
      `[((i * 131 + p * 17) % 50000 + CASE WHEN i % 97 = 5 THEN 4000000000 ELSE 0 END)::BIGINT ` +
      `for p in range(1 + (i * 7) % 70)] AS tokens FROM range(${N}) t(i) ORDER BY i) ` +
      `TO '${path}' (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE 2048)`,
  );
  console.log(`${path}: ${N} rows, ${codec}`);
}
