import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";
import {
  type Provenance,
  provenancePath,
  readResults,
  type ScoreTable,
  writeResults,
} from "../io/results.ts";
import { EngramError } from "../engine/errors.ts";
import { join } from "../engine/path.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";

const BIG = 2 ** 33 + 5; // past 2^31 and 2^32: must survive int64 and text round trips

function provenance(mode: "score" | "extractable", rows: number): Provenance {
  return {
    model: "pythia-70m-deduped",
    revision: "step143000",
    model_path: "/models/pythia-70m-deduped/step143000",
    params: 70426624,
    config_hash: "0123456789abcdef",
    data: "/data/pile_deduped",
    prompt: 32,
    continuation: 32,
    offset: 0,
    mode,
    paper_compatible: true,
    logprob: false,
    engram_version: "0.1.0",
    adapter: "test adapter",
    start: 0,
    count: 2 * rows,
    rows,
    shard: "1/2",
    created: "2025-01-01T00:00:00.000Z",
  };
}

function scoreTable(withLogprob: boolean): ScoreTable {
  return {
    index: Float64Array.from([0, 7, 2 ** 31, BIG]),
    matches: Int16Array.from([0, 17, 32, 31]),
    firstMismatch: Int16Array.from([0, 3, 32, 12]),
    logprob: withLogprob ? Float32Array.from([-2.5, -0.125, -1e-6, -0.3]) : null,
    continuation: 32,
  };
}

function extractableTable(): ScoreTable {
  return {
    index: Float64Array.from([3, BIG]),
    matches: null,
    firstMismatch: Int16Array.from([32, 5]),
    logprob: null,
    continuation: 32,
  };
}

async function roundTrip(ext: string, table: ScoreTable, prov: Provenance) {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, `scores${ext}`);
    await writeResults(path, table, prov);
    const back = await readResults(path);
    assertEquals(back.table, table, `${ext} table`);
    assertEquals(back.provenance, prov, `${ext} provenance`);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp-"));
    assertEquals(left, [], "no temporary files left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const ext of [".parquet", ".csv", ".jsonl"]) {
  Deno.test(`results ${ext}: score mode with logprob round-trips, index > 2^31 exact`, () =>
    roundTrip(ext, scoreTable(true), provenance("score", 4)));
  Deno.test(`results ${ext}: score mode without logprob round-trips`, () =>
    roundTrip(ext, scoreTable(false), provenance("score", 4)));
  Deno.test(`results ${ext}: extractable mode (score and matches null) round-trips`, () =>
    roundTrip(ext, extractableTable(), provenance("extractable", 2)));
}

Deno.test("results .parquet: hyparquet alone reads the columns, types, nulls and provenance", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "x.parquet");
    await writeResults(path, scoreTable(true), provenance("score", 4));
    const file = (await Deno.readFile(path)).buffer as ArrayBuffer;
    const metadata = parquetMetadata(file);
    const schema = parquetSchema(metadata).children.map((c) => [c.element.name, c.element.type]);
    assertEquals(schema, [
      ["index", "INT64"],
      ["score", "DOUBLE"],
      ["matches", "INT32"],
      ["first_mismatch", "INT32"],
      ["memorized", "BOOLEAN"],
      ["logprob", "DOUBLE"],
    ]);
    const kv = metadata.key_value_metadata?.find((m) => m.key === "engram.provenance");
    assertEquals(JSON.parse(kv!.value!), provenance("score", 4));
    const rows = await parquetReadObjects({ file });
    assertEquals(rows.map((r) => r.index), [0n, 7n, 2n ** 31n, BigInt(BIG)]);
    assertEquals(rows.map((r) => r.score), [0, 17 / 32, 1, 31 / 32]);
    assertEquals(rows.map((r) => r.memorized), [false, false, true, false]);

    const path2 = join(dir, "y.parquet");
    await writeResults(path2, extractableTable(), provenance("extractable", 2));
    const rows2 = await parquetReadObjects({ file: (await Deno.readFile(path2)).buffer as ArrayBuffer });
    assertEquals(rows2, [
      { index: 3n, score: null, matches: null, first_mismatch: 32, memorized: true },
      { index: BigInt(BIG), score: null, matches: null, first_mismatch: 5, memorized: false },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("results .csv/.jsonl: columns in order, provenance in a sidecar", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = join(dir, "a.csv"), jsonl = join(dir, "a.jsonl");
    await writeResults(csv, scoreTable(true), provenance("score", 4));
    await writeResults(jsonl, extractableTable(), provenance("extractable", 2));
    const lines = (await Deno.readTextFile(csv)).trim().split("\n");
    assertEquals(lines[0], "index,score,matches,first_mismatch,memorized,logprob");
    assertEquals(lines[4].split(",").slice(0, 5), [String(BIG), String(31 / 32), "31", "12", "false"]);
    const first = JSON.parse((await Deno.readTextFile(jsonl)).split("\n")[0]);
    assertEquals(Object.keys(first), ["index", "score", "matches", "first_mismatch", "memorized"]);
    assertEquals(first.score, null);
    assert((await Deno.stat(provenancePath(csv))).isFile);
    assertEquals(JSON.parse(await Deno.readTextFile(provenancePath(jsonl))).mode, "extractable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("results: a file without provenance reads with provenance null", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "bare.csv");
    await Deno.writeTextFile(
      path,
      "index,score,matches,first_mismatch,memorized\n5,1,32,32,true\n9,0.5,16,2,false\n",
    );
    const { table, provenance } = await readResults(path);
    assertEquals(provenance, null);
    assertEquals(table.continuation, 32);
    assertEquals([...table.index], [5, 9]);
    assertEquals([...table.matches!], [32, 16]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("results: bad inputs are one-line EngramErrors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const e1 = await assertRejects(
      () => writeResults(join(dir, "x.txt"), scoreTable(false), provenance("score", 4)),
      EngramError,
      "unknown results format",
    );
    assertMatch(e1.message, /\.parquet, \.csv or \.jsonl/);
    await assertRejects(() => readResults(join(dir, "x.tsv")), EngramError, "unknown results format");
    await assertRejects(() => readResults(join(dir, "missing.csv")), EngramError, "not found");
    const unsorted = { ...scoreTable(false), index: Float64Array.from([0, 7, 7, BIG]) };
    await assertRejects(
      () => writeResults(join(dir, "u.csv"), unsorted, provenance("score", 4)),
      EngramError,
      "strictly increasing",
    );
    await assertRejects(
      () => writeResults(join(dir, "m.csv"), scoreTable(false), provenance("extractable", 4)),
      EngramError,
      "mode",
    );
    await Deno.writeTextFile(join(dir, "bad.csv"), "a,b\n1,2\n");
    const e2 = await assertRejects(() => readResults(join(dir, "bad.csv")), EngramError, 'no "index" column');
    assert(!e2.message.includes("\n"), "one line");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["bad.csv"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
