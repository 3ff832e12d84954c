// Parquet written by another tool (DuckDB, fixtures/parquet/ from scripts/parquet-fixtures.ts): every codec
// DuckDB writes, and the logical types a re-save gives (DECIMAL in INT32, INT64 and fixed-length byte arrays;
// narrow and unsigned integers), read as the numbers they stand for; what is not a number, and a codec no
// package here reads, refused naming the column and its type or the codec. Expected rows are computed from the
// generator's formula, not read back.
import { parquetWriteBuffer } from "hyparquet-writer";
import { ParquetFile } from "../io/parquet.ts";
import { readResults, writeResults } from "../io/results.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import {
  FIXTURE_DIR,
  FIXTURE_ROWS,
  fixtureProvenance,
  fixtureRow,
  FIXTURES,
} from "../scripts/parquet-fixtures.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { withTempDir } from "./helpers.ts";
import { prov } from "./results_helpers.ts";

const rows = Array.from({ length: FIXTURE_ROWS }, (_, i) => fixtureRow(i));

for (const [name, { types }] of Object.entries(FIXTURES)) {
  if (types[4] === "VARCHAR" || types[0] === "TIMESTAMP") continue;
  Deno.test(`parquet from DuckDB: ${name} (${types.join(", ")}) reads as the rows it stands for`, async () => {
    const path = join(FIXTURE_DIR, name);
    const { table, provenance } = await readResults(path);
    assertEquals(provenance, fixtureProvenance());
    assertEquals([...table.index], rows.map((_, i) => i));
    assertEquals([...table.matches!], rows.map((r) => r.matches));
    assertEquals([...table.firstMismatch], rows.map((r) => r.firstMismatch));
    // Where logprob is a DOUBLE, row 0 holds -Infinity; a DECIMAL cannot.
    const logprob = rows.map((r, i) => i === 0 && types[4] === "DOUBLE" ? -Infinity : Math.fround(r.logprob));
    assertEquals([...table.logprob!], logprob);
    // The columns as numbers, in double precision: each DECIMAL over its 10^scale, exactly the decimal's double.
    const file = await ParquetFile.open(path);
    for await (const b of file.batches(["score", "logprob"])) {
      const score = b.columns.get("score")!, lp = b.columns.get("logprob")!;
      for (let i = 0; i < b.length; i++) {
        const r = rows[b.rowStart + i];
        const want = types[1] === "FLOAT" ? Math.fround(r.matches / 32) : r.matches / 32;
        assertEquals(score[i], want, `${name} score of row ${b.rowStart + i}`);
        if (b.rowStart + i > 0 || types[4] !== "DOUBLE") {
          assertEquals(lp[i], r.logprob, `${name} logprob of row ${b.rowStart + i}`);
        }
      }
    }
  });
}

Deno.test("parquet from DuckDB: a column of strings or timestamps is refused naming the column and its type", async () => {
  for (
    const [name, column, type] of [
      ["string.parquet", "logprob", "BYTE_ARRAY (UTF8)"],
      ["timestamp.parquet", "index", "INT64 (TIMESTAMP)"],
    ]
  ) {
    const path = join(FIXTURE_DIR, name);
    const e = await assertRejects(() => readResults(path), EngramError);
    assert(
      e.message.includes(path) && e.message.includes(`column "${column}" holds ${type} values, not numbers`),
      e.message,
    );
  }
});

Deno.test("parquet: a codec no package here reads (LZO) is named as such, not called damaged", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "lzo.parquet");
    const table = {
      index: Float64Array.of(0, 1, 2, 3),
      matches: Int16Array.of(0, 1, 32, 3),
      firstMismatch: Int16Array.of(0, 1, 32, 3),
      logprob: null,
      continuation: 32,
    };
    await writeResults(path, table, prov());
    // The "index" column chunk's codec: its path list ("index"), then field 4 (i32, zigzag 0 = UNCOMPRESSED):
    // set to LZO (3, zigzag 6).
    const bytes = await Deno.readFile(path);
    const pattern = [5, ...new TextEncoder().encode("index"), 0x15, 0x00];
    let at = -1;
    for (let i = bytes.length - pattern.length; i >= 0 && at < 0; i--) {
      if (pattern.every((v, k) => bytes[i + k] === v)) at = i + pattern.length - 1;
    }
    assert(at > 0, "the codec field of the index column");
    bytes[at] = 6;
    await Deno.writeFile(path, bytes);
    const e = await assertRejects(() => readResults(path), EngramError);
    assert(
      /row group 0, column "index" is compressed with LZO, which engram cannot read/.test(e.message),
      e.message,
    );
    assert(!e.message.includes("damaged"), e.message);
  });
});

Deno.test("parquet: a DECIMAL in an encoding hyparquet reads (BYTE_STREAM_SPLIT) is scaled once, by converted or logical type", async () => {
  await withTempDir(async (dir) => {
    const unscaled = [0, -734567, -2938894, -1];
    for (const by of ["converted_type", "logical_type"]) {
      const decimal = by === "converted_type"
        ? { converted_type: "DECIMAL" as const, scale: 6, precision: 12 }
        : { logical_type: { type: "DECIMAL" as const, scale: 6, precision: 12 } };
      const path = join(dir, `${by}.parquet`);
      await Deno.writeFile(
        path,
        new Uint8Array(parquetWriteBuffer({
          codec: "UNCOMPRESSED",
          schema: [
            { name: "root", num_children: 2 },
            { name: "index", type: "INT64", repetition_type: "REQUIRED" },
            { name: "logprob", type: "INT64", repetition_type: "REQUIRED", ...decimal },
          ],
          columnData: [
            { name: "index", data: BigInt64Array.from([0n, 1n, 2n, 3n]) },
            {
              name: "logprob",
              data: BigInt64Array.from(unscaled.map(BigInt)),
              encoding: "BYTE_STREAM_SPLIT",
            },
          ],
        })),
      );
      const file = await ParquetFile.open(path);
      for await (const b of file.batches(["logprob"])) {
        assertEquals([...b.columns.get("logprob")!], [0, -0.734567, -2.938894, -0.000001], by);
      }
    }
  });
});
