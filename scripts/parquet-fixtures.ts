// Writes fixtures/parquet/: small results files written by DuckDB (a foreign Parquet writer), for the reader's
// tests of codecs and logical types (tests/parquet_foreign_test.ts). Run from the repository's root:
//   deno run -A --no-lock scripts/parquet-fixtures.ts
// (DuckDB is loaded by a specifier built at run time, only when the script runs, so the test that imports the
// fixtures' formulas from here needs no DuckDB, and DuckDB never enters deno.lock: see bench/scale/report.ts.)
// Every file holds the same 40 rows of one job (rows 0..39, score mode, with logprob), the provenance in its
// footer's key-value metadata as engram writes it, so a reader that applies the stored type gets exactly
// `fixtureRow`'s values back (the test computes them again from the same formula); where logprob is a DOUBLE,
// row 0's is -Infinity (a continuation the model gave probability 0).
import { join } from "../base/path.ts";
import type { Provenance } from "../io/results.ts";

export const FIXTURE_DIR = new URL("../fixtures/parquet/", import.meta.url).pathname;
export const FIXTURE_ROWS = 40;

/** Row i: matches, first_mismatch, logprob (6 decimals, so DECIMAL(_, 6) holds it exactly; row 0's is 0). */
export function fixtureRow(i: number): { matches: number; firstMismatch: number; logprob: number } {
  const matches = (i * 7) % 33;
  return {
    matches,
    firstMismatch: matches === 32 ? 32 : matches % 5,
    logprob: 0 - ((i * 734567) % 9000001) / 1e6,
  };
}

export const fixtureProvenance = (): Provenance => ({
  model: "duck",
  revision: "step1",
  model_path: "/models/duck/step1",
  params: 1000,
  config_hash: "0123456789abcdef",
  data: "/data/duck",
  prompt: 32,
  continuation: 32,
  offset: 0,
  mode: "score",
  paper_compatible: false,
  logprob: true,
  engram_version: "0.1.0",
  adapter: "duckdb",
  start: 0,
  count: FIXTURE_ROWS,
  rows: FIXTURE_ROWS,
  created: "2026-01-01T00:00:00.000Z",
});

/** File name → the SQL types of index, score, matches, first_mismatch, logprob, and the COPY options. */
export const FIXTURES: Record<string, { types: [string, string, string, string, string]; copy: string }> = {
  // Plain types (INT64, DOUBLE, INT32), each codec DuckDB writes (its lz4 is Parquet's LZ4_RAW).
  ...Object.fromEntries(
    ["zstd", "gzip", "snappy", "brotli", "lz4", "uncompressed"].map((codec) => [
      `codec-${codec}.parquet`,
      { types: ["BIGINT", "DOUBLE", "INTEGER", "INTEGER", "DOUBLE"], copy: `COMPRESSION ${codec}` },
    ]),
  ),
  // DECIMAL in INT32 (precision ≤ 9) and INT64 (≤ 18), narrow and unsigned integers (INT(8|16|32, signed?)).
  "decimal.parquet": {
    types: ["UINTEGER", "DECIMAL(7,6)", "TINYINT", "USMALLINT", "DECIMAL(12,6)"],
    copy: "COMPRESSION uncompressed",
  },
  // DECIMAL in a FIXED_LEN_BYTE_ARRAY (precision > 18), UINT_64, UINT_8, FLOAT.
  "wide.parquet": {
    types: ["UBIGINT", "FLOAT", "SMALLINT", "UTINYINT", "DECIMAL(38,6)"],
    copy: "COMPRESSION zstd",
  },
  // Parquet 2's data pages and encodings (DELTA_BINARY_PACKED, BYTE_STREAM_SPLIT, ...), some read by hyparquet.
  "v2.parquet": {
    types: ["UBIGINT", "DOUBLE", "SMALLINT", "UINTEGER", "DECIMAL(38,6)"],
    copy: "COMPRESSION zstd, PARQUET_VERSION V2",
  },
  "v2-decimal.parquet": {
    types: ["BIGINT", "DECIMAL(9,6)", "UTINYINT", "INTEGER", "DECIMAL(18,6)"],
    copy: "COMPRESSION gzip, PARQUET_VERSION V2",
  },
  // Types that are not numbers: refused, naming the column and its type.
  "string.parquet": {
    types: ["BIGINT", "DOUBLE", "INTEGER", "INTEGER", "VARCHAR"],
    copy: "COMPRESSION uncompressed",
  },
  "timestamp.parquet": {
    types: ["TIMESTAMP", "DOUBLE", "INTEGER", "INTEGER", "DOUBLE"],
    copy: "COMPRESSION uncompressed",
  },
};

/** The little of @duckdb/node-api this script uses. */
interface DuckModule {
  DuckDBInstance: {
    create(
      path: string,
      options: Record<string, string>,
    ): Promise<{ connect(): Promise<{ run(sql: string): Promise<unknown>; closeSync(): void }> }>;
  };
}

if (import.meta.main) {
  const specifier = ["npm:@duckdb/node-api", "1.5.6-r.1"].join("@");
  const { DuckDBInstance } = await import(specifier) as DuckModule;
  await Deno.mkdir(FIXTURE_DIR, { recursive: true });
  const db = await DuckDBInstance.create(":memory:", { threads: "1" });
  const con = await db.connect();
  const values = Array.from({ length: FIXTURE_ROWS }, (_, i) => {
    const r = fixtureRow(i);
    return `(${i}, ${r.matches / 32}, ${r.matches}, ${r.firstMismatch}, ${r.logprob})`;
  }).join(", ");
  await con.run(
    `CREATE TABLE rows AS SELECT * FROM (VALUES ${values}) t(i, score, matches, first_mismatch, logprob)`,
  );
  const provenance = JSON.stringify(fixtureProvenance()).replaceAll("'", "''");
  for (const [name, { types: [ti, ts, tm, tf, tl], copy }] of Object.entries(FIXTURES)) {
    const index = ti === "TIMESTAMP" ? "to_timestamp(i)::TIMESTAMP" : `i::${ti}`;
    const logprob = tl === "VARCHAR"
      ? "logprob::VARCHAR"
      : tl === "DOUBLE"
      ? "CASE WHEN i = 0 THEN '-inf'::DOUBLE ELSE logprob END"
      : `logprob::${tl}`;
    await con.run(
      `COPY (SELECT ${index} AS index, score::${ts} AS score, matches::${tm} AS matches,
        first_mismatch::${tf} AS first_mismatch, first_mismatch = 32 AS memorized, ${logprob} AS logprob
        FROM rows ORDER BY i)
       TO '${join(FIXTURE_DIR, name)}'
       (FORMAT parquet, ${copy}, KV_METADATA {'engram.provenance': '${provenance}'})`,
    );
  }
  con.closeSync();
  console.log(`wrote ${Object.keys(FIXTURES).length} files to ${FIXTURE_DIR}`);
}
