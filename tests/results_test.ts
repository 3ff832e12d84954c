// Results files in the three formats: round trips (row-group boundaries, empty and one-row files, indices past
// 2^32, logprob), what other readers see (hyparquet), the CSV/JSONL sidecar tied to its data, and every refusal
// while reading: values out of range, rows that do not match the provenance, corrupt Parquet, provenance fields of
// the wrong type, a sidecar from another run. Expected values are planted or computed here with plain loops.
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";
import {
  openResults,
  type Provenance,
  provenancePath,
  readProvenance,
  readResults,
  type ResultsBatch,
  type ScoreTable,
  writeResults,
  writeResultsStream,
  writeRowsCheckedAsRead,
} from "../io/results.ts";
import { ParquetWriter } from "../io/parquet.ts";
import { AtomicFile } from "../base/atomic.ts";
import { sampledFingerprint } from "../io/files.ts";
import { Journal, journalBatches } from "../scoring/journal.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { withTempDir } from "./helpers.ts";
import { crc32, prov, writePair } from "./results_helpers.ts";

const BIG = 2 ** 33 + 5; // past 2^31 and 2^32: must survive int64 and text round trips

/** Seven rows [BIG + 7, BIG + 14): shard 1/2 of a 14-row job starting at BIG. */
function scoreTable(withLogprob: boolean): ScoreTable {
  return {
    index: Float64Array.from({ length: 7 }, (_, i) => BIG + 7 + i),
    matches: Int16Array.from([0, 17, 32, 31, 5, 32, 1]),
    firstMismatch: Int16Array.from([0, 3, 32, 12, 0, 32, 0]),
    logprob: withLogprob ? Float32Array.from([-2.5, -0.125, -1e-6, -0.3, -7.25, -1e-3, -30]) : null,
    continuation: 32,
  };
}
const scoreProv = (logprob: boolean) => prov({ start: BIG, count: 14, rows: 7, shard: "1/2", logprob });

function extractableTable(): ScoreTable {
  return {
    index: Float64Array.from([BIG + 2, BIG + 3]),
    matches: null,
    firstMismatch: Int16Array.from([32, 5]),
    logprob: null,
    continuation: 32,
  };
}
const extractableProv = () => prov({ mode: "extractable", start: BIG, count: 4, rows: 2, shard: "1/2" });

/** A Parquet file of index and first_mismatch (0) columns with `provenance` in its footer, as given. */
async function parquetOf(path: string, index: number[], provenance: unknown): Promise<void> {
  const out = await AtomicFile.create(path);
  const w = new ParquetWriter(
    out,
    [
      { name: "index", type: "INT64", optional: false },
      { name: "first_mismatch", type: "INT32", optional: false },
    ],
    [{ key: "engram.provenance", value: JSON.stringify(provenance) }],
    "test",
  );
  await w.writeRowGroup(index.length, [index, index.map(() => 0)]);
  await w.finish();
  await out.commit();
}

async function batchesOf(path: string): Promise<ResultsBatch[]> {
  const out = [];
  for await (const b of (await openResults(path)).batches()) out.push(b);
  return out;
}

async function roundTrip(ext: string, table: ScoreTable, p: Provenance) {
  await withTempDir(async (dir) => {
    const path = join(dir, `scores${ext}`);
    await writeResults(path, table, p, { rowGroupRows: 3 });
    const back = await readResults(path);
    assertEquals(back.table, table, `${ext} table`);
    assertEquals(back.provenance, p, `${ext} provenance`);
    const reader = await openResults(path);
    assertEquals([reader.rows, reader.continuation, reader.format], [p.rows, 32, ext]);
    const sizes = (await batchesOf(path)).map((b) => b.length);
    // Parquet: one batch per row group of 3; text: one batch (under a million rows).
    const n = table.index.length;
    assertEquals(
      sizes,
      ext === ".parquet" ? [3, 3, 3].slice(0, Math.floor(n / 3)).concat(n % 3 ? [n % 3] : []) : n ? [n] : [],
    );
    // Reused arrays (each batch overwritten by the next): the same rows when each batch is copied as read.
    const rows: number[][] = [], buffers = new Set<ArrayBufferLike>();
    for await (const b of reader.batches({ reuse: true })) {
      buffers.add(b.firstMismatch.buffer);
      for (let i = 0; i < b.length; i++) {
        rows.push([b.index[i], b.matches?.[i] ?? -1, b.firstMismatch[i], b.logprob?.[i] ?? 0]);
      }
    }
    assertEquals(
      rows,
      [...table.index].map((
        x,
        i,
      ) => [x, table.matches?.[i] ?? -1, table.firstMismatch[i], table.logprob?.[i] ?? 0]),
      `${ext} read with reuse`,
    );
    assert(buffers.size <= 1, "one set of arrays for all batches");
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp-"));
    assertEquals(left, [], "no temporary files left");
  });
}

for (const ext of [".parquet", ".csv", ".jsonl"]) {
  Deno.test(`results ${ext}: score mode with logprob round-trips across row groups, index > 2^32 exact`, () =>
    roundTrip(ext, scoreTable(true), scoreProv(true)));
  Deno.test(`results ${ext}: score mode without logprob round-trips`, () =>
    roundTrip(ext, scoreTable(false), scoreProv(false)));
  Deno.test(`results ${ext}: extractable mode (score and matches null) round-trips`, () =>
    roundTrip(ext, extractableTable(), extractableProv()));
  Deno.test(`results ${ext}: an empty shard and a shard of one row round-trip`, async () => {
    // A 2-row job in 3 shards: shard 0 holds no row, shard 2 holds row 1 only.
    const empty = { ...extractableTable(), index: new Float64Array(0), firstMismatch: new Int16Array(0) };
    await roundTrip(ext, empty, prov({ mode: "extractable", start: 0, count: 2, rows: 0, shard: "0/3" }));
    const one = {
      ...scoreTable(false),
      index: Float64Array.of(1),
      matches: Int16Array.of(4),
      firstMismatch: Int16Array.of(2),
    };
    await roundTrip(ext, one, prov({ start: 0, count: 2, rows: 1, shard: "2/3" }));
  });
}

Deno.test("results .parquet: hyparquet alone reads the columns, types, nulls, row groups and provenance", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "x.parquet");
    await writeResults(path, scoreTable(true), scoreProv(true), { rowGroupRows: 3 });
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
    assertEquals(metadata.row_groups.map((g) => Number(g.num_rows)), [3, 3, 1]);
    const kv = metadata.key_value_metadata?.find((m) => m.key === "engram.provenance");
    assertEquals(JSON.parse(kv!.value!), scoreProv(true));
    const rows = await parquetReadObjects({ file });
    const t = scoreTable(true);
    assertEquals(rows.map((r) => r.index), Array.from(t.index, (x) => BigInt(x)));
    assertEquals(rows.map((r) => r.score), Array.from(t.matches!, (m) => m / 32));
    assertEquals(rows.map((r) => r.matches), Array.from(t.matches!));
    assertEquals(rows.map((r) => r.first_mismatch), Array.from(t.firstMismatch));
    assertEquals(rows.map((r) => r.memorized), Array.from(t.firstMismatch, (f) => f === 32));
    assertEquals(rows.map((r) => r.logprob), Array.from(t.logprob!));

    const path2 = join(dir, "y.parquet");
    await writeResults(path2, extractableTable(), extractableProv());
    const rows2 = await parquetReadObjects({ file: (await Deno.readFile(path2)).buffer as ArrayBuffer });
    assertEquals(rows2, [
      { index: BigInt(BIG + 2), score: null, matches: null, first_mismatch: 32, memorized: true },
      { index: BigInt(BIG + 3), score: null, matches: null, first_mismatch: 5, memorized: false },
    ]);
  });
});

Deno.test("results .csv/.jsonl: columns in order; the sidecar holds the provenance and the data's length and CRC-32", async () => {
  await withTempDir(async (dir) => {
    const csv = join(dir, "a.csv"), jsonl = join(dir, "a.jsonl");
    await writeResults(csv, scoreTable(true), scoreProv(true));
    await writeResults(jsonl, extractableTable(), extractableProv());
    const lines = (await Deno.readTextFile(csv)).trim().split("\n");
    assertEquals(lines[0], "index,score,matches,first_mismatch,memorized,logprob");
    assertEquals(lines[4], `${BIG + 10},${31 / 32},31,12,false,${Math.fround(-0.3)}`);
    assertEquals(lines[3].split(",").slice(1, 5), ["1", "32", "32", "true"]);
    const first = JSON.parse((await Deno.readTextFile(jsonl)).split("\n")[0]);
    assertEquals(first, { index: BIG + 2, score: null, matches: null, first_mismatch: 32, memorized: true });
    for (const [path, p] of [[csv, scoreProv(true)], [jsonl, extractableProv()]] as const) {
      const side = JSON.parse(await Deno.readTextFile(provenancePath(path)));
      const bytes = await Deno.readFile(path);
      const { results_file, ...rest } = side;
      assertEquals(rest, p);
      assertEquals(results_file, { bytes: bytes.length, crc32: crc32(bytes) });
      assertEquals(await readProvenance(path), p);
    }
  });
});

Deno.test("results: a file without provenance reads with provenance null and the continuation from its rows", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bare.csv");
    await Deno.writeTextFile(
      path,
      "index,score,matches,first_mismatch,memorized\n5,1,16,16,true\n9,0.5,8,2,false\n",
    );
    const { table, provenance } = await readResults(path);
    assertEquals(provenance, null);
    assertEquals(table.continuation, 16);
    assertEquals([...table.index], [5, 9]);
    assertEquals([...table.matches!], [16, 8]);
    assertEquals(await readProvenance(path), null);
    const reader = await openResults(path);
    assertEquals(reader.rows, null);
  });
});

Deno.test("results: values out of range are refused on reading, naming file, row and value", async () => {
  const header = "index,score,matches,first_mismatch,memorized\n";
  const good = "0,0.5,16,1,false\n";
  const cases: [string, string, RegExp][] = [
    ["score > 1", "1,1.5,16,1,false\n", /row 2 has score 1\.5; expected a number in \[0, 1\]/],
    ["score < 0", "1,-0.25,0,0,false\n", /row 2 has score -0\.25/],
    ["score ≠ matches/32", "1,0.25,16,1,false\n", /row 2 has score 0\.25 but matches 16/],
    ["matches > 32", "1,0.5,40,1,false\n", /row 2 has matches 40; expected an integer in \[0, 32\]/],
    ["matches fractional", "1,,2.5,1,false\n", /row 2 has matches 2\.5/],
    [
      "first_mismatch > 32",
      "1,0.5,16,33,false\n",
      /row 2 has first_mismatch 33; expected an integer in \[0, 32\]/,
    ],
    ["first_mismatch < 0", "1,0.5,16,-1,false\n", /row 2 has first_mismatch -1/],
    ["negative index", "-3,0.5,16,1,false\n", /row 2 has index -3; indices are integers ≥ 0/],
    ["fractional index", "1.5,0.5,16,1,false\n", /row 2 has index 1\.5/],
    [
      "repeated index",
      "0,0.5,16,1,false\n",
      /row 2 has index 0 after 0; indices must be strictly increasing/,
    ],
    ["index not a number", "x1,0.5,16,1,false\n", /"index" is "x1", not a number/],
    ["memorized ≠ first_mismatch = 32", "1,0.5,16,1,true\n", /row 2 has memorized true but first_mismatch 1/],
    ["too few cells", "1,0.5,16\n", /3 cells but the header has 5 columns/],
  ];
  await withTempDir(async (dir) => {
    for (const [what, row, message] of cases) {
      const path = join(dir, "bad.csv");
      await Deno.writeTextFile(path, header + good + row);
      const e = await assertRejects(() => readResults(path), EngramError, message);
      assert(e.message.includes(path), `${what}: names the file: ${e.message}`);
      assert(!e.message.includes("\n"), `${what}: one line`);
    }
    // The same checks in JSONL and Parquet (a file written by another tool: hyparquet-writer).
    const jsonl = join(dir, "bad.jsonl");
    await Deno.writeTextFile(jsonl, '{"index":0,"first_mismatch":1}\n{"index":1,"first_mismatch":99}\n');
    await assertRejects(() => readResults(jsonl), EngramError, "row 2 has first_mismatch 99");
    const { parquetWriteBuffer } = await import("hyparquet-writer");
    const parquet = join(dir, "bad.parquet");
    await Deno.writeFile(
      parquet,
      new Uint8Array(parquetWriteBuffer({
        columnData: [
          { name: "index", data: BigInt64Array.from([0n, 1n, 2n]), type: "INT64" },
          { name: "score", data: Float64Array.from([0, 1, 2]), type: "DOUBLE" },
          { name: "first_mismatch", data: Int32Array.from([0, 32, 32]), type: "INT32" },
        ],
      })),
    );
    await assertRejects(() => readResults(parquet), EngramError, "row 3 has score 2");
  });
});

Deno.test("results: score's final write names the journal, its row and value when a journal row is wrong, and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const partial = join(dir, "x.parquet.partial");
    const source = `${partial} (this job's journal: delete it to score the job again)`;
    for (
      const [rows, message] of [
        [
          [[0, 0, 0], [1, 5, 40], [2, 32, 32], [3, 1, 1]],
          "row 2 has first_mismatch 40; expected an integer in [0, 32]",
        ],
        [
          [[0, 0, 0], [1, 5, 5], [3, 32, 32], [4, 1, 1]],
          "row 3 has index 3 but its provenance's rows start at 0",
        ],
        [[[0, 0, 0], [1, 5, 5], [2, 32, 7]], "row 3 has matches 32 but first_mismatch 7"],
        [[[0, 0, 0], [1, 5, 5], [2, 32, 32]], "holds 3 rows but its provenance says 4"],
      ] as [number[][], string][]
    ) {
      const journal = await Journal.open(partial, { job: 1 });
      await journal.append({
        index: Float64Array.from(rows, (r) => r[0]),
        matches: Int16Array.from(rows, (r) => r[1]),
        firstMismatch: Int16Array.from(rows, (r) => r[2]),
        logprob: new Float32Array(rows.length).fill(NaN),
      }, rows.length);
      for (const ext of [".parquet", ".csv"]) {
        const out = join(dir, `x${ext}`);
        const e = await assertRejects(() => writeResultsStream(out, prov(), journalBatches(journal, prov())));
        assert(e instanceof EngramError && e.message.startsWith(`${source}: `), String(e));
        assert(e.message.includes(message), e.message);
        assertEquals([...Deno.readDirSync(dir)].map((x) => x.name), ["x.parquet.partial"], "nothing written");
      }
      await journal.remove();
    }
  });
});

Deno.test("results: rows already checked as read (merge's) are still placed: a batch out of place is refused", async () => {
  await withTempDir(async (dir) => {
    const batch = (from: number, n: number): ResultsBatch => ({
      length: n,
      index: Float64Array.from({ length: n }, (_, i) => from + i),
      matches: new Int16Array(n),
      firstMismatch: new Int16Array(n),
      logprob: null,
    });
    const checked = (...batches: ResultsBatch[]) => ({
      source: "the shards",
      async *[Symbol.asyncIterator]() {
        yield* batches;
      },
    });
    const out = join(dir, "x.csv"), p = prov({ count: 6, rows: 6 });
    for (
      const [rows, message] of [
        [checked(batch(0, 2), batch(3, 2), batch(5, 1)), "the shards: row 3 has index 3"], // a gap at a start
        [checked(batch(0, 2), batch(2, 3)), "holds 5 rows but its provenance says 6"],
        [checked(batch(0, 3), { ...batch(3, 3), index: Float64Array.of(3, 4, 9) }), "row 6 has index 9"],
      ] as const
    ) {
      await assertRejects(() => writeRowsCheckedAsRead(out, p, rows), EngramError, message);
      assertEquals([...Deno.readDirSync(dir)], [], "nothing written");
    }
    assertEquals((await writeRowsCheckedAsRead(out, p, checked(batch(0, 4), batch(4, 2)))).rows, 6);
  });
});

Deno.test("results: a provenance field of the wrong type or missing is one line naming the field", async () => {
  await withTempDir(async (dir) => {
    const csv = join(dir, "a.csv");
    await writeResults(csv, scoreTable(false), scoreProv(false));
    const side = JSON.parse(await Deno.readTextFile(provenancePath(csv)));
    for (
      const [field, value, message] of [
        ["continuation", "32", /"continuation" is "32"; expected an integer ≥ 1/],
        ["mode", "greedy", /"mode" is "greedy"; expected "score" or "extractable"/],
        ["logprob", 1, /"logprob" is 1; expected true or false/],
        ["shard", "2/2", /"shard" is "2\/2"; expected "i\/N" with 0 ≤ i < N/],
        ["kernels", 3, /"kernels" is 3; expected a string/],
        ["tokenizer", null, /"tokenizer" is null; expected a string/],
        ["data_fingerprint", false, /"data_fingerprint" is false; expected a string/],
        ["rows", 6, /provenance says 6 rows, but shard 1\/2 of the job .* has 7/],
        ["model", undefined, /provenance has no "model"/],
      ] as const
    ) {
      await Deno.writeTextFile(provenancePath(csv), JSON.stringify({ ...side, [field]: value }));
      for (const read of [() => readResults(csv), () => readProvenance(csv)]) {
        const e = await assertRejects(read, EngramError, message);
        assert(e.message.includes(provenancePath(csv)), e.message);
      }
    }
    await Deno.writeTextFile(provenancePath(csv), "{not json");
    await assertRejects(() => readResults(csv), EngramError, "not valid JSON");
    await Deno.writeTextFile(provenancePath(csv), "[1, 2]");
    await assertRejects(() => readResults(csv), EngramError, "not a JSON object");
    // In a Parquet footer too.
    const parquet = join(dir, "p.parquet");
    await parquetOf(parquet, [BIG + 7], { ...scoreProv(false), prompt: null });
    await assertRejects(() => openResults(parquet), EngramError, '"prompt" is null; expected an integer ≥ 1');
  });
});

Deno.test("results: a copy with fewer rows than its provenance is refused (truncated, cut in the middle, sidecar rewritten)", async () => {
  await withTempDir(async (dir) => {
    const csv = join(dir, "a.csv");
    await writeResults(csv, scoreTable(false), scoreProv(false));
    const text = await Deno.readTextFile(csv);
    const lines = text.split("\n");
    // `head -n -5`: the data no longer matches the sidecar's length.
    await Deno.writeTextFile(csv, lines.slice(0, -6).join("\n") + "\n");
    await assertRejects(() => openResults(csv), EngramError, "does not match its provenance");
    await assertRejects(() => readProvenance(csv), EngramError, "does not match its provenance");
    // The same with a sidecar rewritten to fit the short file: the row count gives it away.
    await writePair(csv, lines.slice(0, -6).join("\n") + "\n", scoreProv(false));
    await assertRejects(() => readResults(csv), EngramError, "holds 2 rows but its provenance says 7");
    // A row cut out of the middle: the indices give it away.
    await writePair(csv, [...lines.slice(0, 3), ...lines.slice(4)].join("\n"), scoreProv(false));
    await assertRejects(() => readResults(csv), EngramError, `rows ${BIG + 9}..${BIG + 9} are missing`);
    // Rows from before the provenance's range (a gap at its start).
    const shifted = lines.map((l, i) => i === 0 || l === "" ? l : l.replace(/^\d+/, String(BIG + 5 + i)));
    await writePair(csv, shifted.join("\n"), scoreProv(false));
    await assertRejects(
      () => readResults(csv),
      EngramError,
      `row 1 has index ${BIG + 6} but its provenance's rows start at ${BIG + 7}`,
    );
    // Parquet: the footer's row count against the provenance's.
    const parquet = join(dir, "p.parquet");
    await parquetOf(parquet, [BIG + 7, BIG + 8], scoreProv(false));
    await assertRejects(() => openResults(parquet), EngramError, "holds 2 rows but its provenance says 7");
  });
});

Deno.test("results: a sidecar from another run (same length, other bytes) is refused once the data is read", async () => {
  await withTempDir(async (dir) => {
    const csv = join(dir, "a.csv");
    await writeResults(csv, scoreTable(false), scoreProv(false));
    const bytes = await Deno.readFile(csv);
    const other = bytes.slice();
    const at = new TextDecoder().decode(bytes).indexOf(",17,3,") + 1;
    other.set(new TextEncoder().encode("18,3"), at); // same length, another row's values... and now inconsistent
    other.set(new TextEncoder().encode(String(18 / 32).slice(0, 7)), at - 8); // 0.53125 → 0.5625 (same length)
    await Deno.writeFile(csv, other);
    assertEquals(other.length, bytes.length);
    const e = await assertRejects(() => readResults(csv), EngramError);
    assertMatch(e.message, /does not match its provenance|row 2/);
    // A clean swap: the data of another run with the same number of bytes, every row valid.
    const table = scoreTable(false);
    const swapped = { ...table, matches: Int16Array.from(table.matches!, (m) => (m === 17 ? 18 : m)) };
    await writeResults(join(dir, "b.csv"), swapped, scoreProv(false));
    await Deno.copyFile(join(dir, "b.csv"), csv);
    await assertRejects(() => readResults(csv), EngramError, "CRC-32");
  });
});

Deno.test("results: corrupt or truncated Parquet is one engram line, never an internal error", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.parquet");
    await writeResults(path, scoreTable(true), scoreProv(true), { rowGroupRows: 3 });
    const bytes = await Deno.readFile(path);
    const cases: [string, Uint8Array, RegExp][] = [
      ["truncated", bytes.slice(0, bytes.length - 100), /not a readable Parquet file/],
      ["not Parquet", new TextEncoder().encode("index,score\n0,1\n"), /not a readable Parquet file/],
      ["empty", new Uint8Array(0), /not a readable Parquet file/],
    ];
    // Garbage over the first data page header and over the middle of the data.
    for (const [from, len] of [[4, 40], [Math.floor(bytes.length / 3), 64]]) {
      const bad = bytes.slice();
      for (let i = from; i < from + len; i++) bad[i] = 0xff ^ (i * 37);
      cases.push([
        `garbage at ${from}`,
        bad,
        /corrupt or unreadable Parquet data|row \d+ has|holds \d+ rows/,
      ]);
    }
    for (const [what, data, message] of cases) {
      await Deno.writeFile(path, data);
      const e = await assertRejects(() => readResults(path), EngramError, message);
      assert(e.message.includes(path) && !e.message.includes("\n"), `${what}: ${e.message}`);
    }
  });
});

Deno.test("results: a failed write leaves no file (nor a temporary one) and keeps the previous pair intact", async () => {
  await withTempDir(async (dir) => {
    for (const ext of [".parquet", ".csv"]) {
      const path = join(dir, `a${ext}`);
      await writeResults(path, scoreTable(false), scoreProv(false));
      const before = await Deno.readFile(path);
      const t = scoreTable(false);
      const failing = async function* (): AsyncGenerator<ResultsBatch> {
        yield {
          length: 3,
          index: t.index.subarray(0, 3),
          matches: t.matches!.subarray(0, 3),
          firstMismatch: t.firstMismatch.subarray(0, 3),
          logprob: null,
        };
        throw new EngramError("the scorer stopped");
      };
      await assertRejects(
        () => writeResultsStream(path, scoreProv(false), failing()),
        EngramError,
        "the scorer stopped",
      );
      // Rows that do not answer the provenance are refused before anything appears.
      const wrong = {
        length: 1,
        index: Float64Array.of(BIG + 8),
        matches: Int16Array.of(1),
        firstMismatch: Int16Array.of(0),
        logprob: null,
      };
      await assertRejects(() => writeResultsStream(path, scoreProv(false), [wrong]), EngramError, "start at");
      await assertRejects(() => writeResultsStream(path, scoreProv(false), []), EngramError, "holds 0 rows");
      assertEquals(await Deno.readFile(path), before, `${ext}: the previous file is intact`);
      await readResults(path); // and still matches its sidecar
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["a.csv", "a.csv.provenance.json", "a.parquet"]);
  });
});

Deno.test("results and journal: a full disk while writing is one engram line and leaves nothing behind", async () => {
  const mnt = await Deno.makeTempDir({ prefix: "engram-full-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt],
    stderr: "null",
  })
    .output().catch(() => null);
  if (!mount?.success) {
    await Deno.remove(mnt);
    console.log("  (skipped: mounting a small tmpfs needs root)");
    return;
  }
  try {
    const n = 20000; // ~600 KB of CSV, ~60 KB+ of Parquet: past 64 KiB either way
    const table: ScoreTable = {
      index: Float64Array.from({ length: n }, (_, i) => i),
      matches: Int16Array.from({ length: n }, (_, i) => i % 32),
      firstMismatch: Int16Array.from({ length: n }, (_, i) => i % 32),
      logprob: Float32Array.from({ length: n }, (_, i) => -i / 7),
      continuation: 32,
    };
    // The journal that scoring appends to: the append that does not fit is one line saying how to resume.
    const journal = await Journal.open(join(mnt, "x.partial"), { job: 1 });
    const cols = {
      index: table.index,
      matches: table.matches!,
      firstMismatch: table.firstMismatch,
      logprob: table.logprob!,
    };
    const e0 = await assertRejects(
      () => journal.append(cols, n),
      EngramError,
      "rerun the same command to resume",
    );
    assert(e0.message.includes(join(mnt, "x.partial")), e0.message);
    journal.close();
    await Deno.remove(join(mnt, "x.partial"));
    for (const ext of [".csv", ".parquet", ".jsonl"]) {
      const path = join(mnt, `x${ext}`);
      const e = await assertRejects(
        () => writeResults(path, table, prov({ start: 0, count: n, rows: n, logprob: true })),
        EngramError,
        `cannot write ${path}`,
      );
      assert(!e.message.includes("\n"), e.message);
      assertEquals([...Deno.readDirSync(mnt)].map((x) => x.name), [], `${ext}: nothing left`);
    }
  } finally {
    await new Deno.Command("umount", { args: [mnt] }).output();
    await Deno.remove(mnt);
  }
});

Deno.test("results: bad inputs are one-line EngramErrors", async () => {
  await withTempDir(async (dir) => {
    const e1 = await assertRejects(
      () => writeResults(join(dir, "x.txt"), scoreTable(false), scoreProv(false)),
      EngramError,
      "unknown results format",
    );
    assertMatch(e1.message, /\.parquet, \.csv or \.jsonl/);
    await assertRejects(() => readResults(join(dir, "x.tsv")), EngramError, "unknown results format");
    await assertRejects(() => readResults(join(dir, "missing.csv")), EngramError, "not found");
    const unsorted = {
      ...scoreTable(false),
      index: Float64Array.from(scoreTable(false).index, (x, i) => i === 2 ? x - 1 : x),
    };
    await assertRejects(
      () => writeResults(join(dir, "u.csv"), unsorted, scoreProv(false)),
      EngramError,
      "strictly increasing",
    );
    await assertRejects(
      () => writeResults(join(dir, "m.csv"), scoreTable(false), { ...scoreProv(false), mode: "extractable" }),
      EngramError,
      "mode",
    );
    await Deno.writeTextFile(join(dir, "bad.csv"), "a,b\n1,2\n");
    const e2 = await assertRejects(() => readResults(join(dir, "bad.csv")), EngramError, 'no "index" column');
    assert(!e2.message.includes("\n"), "one line");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["bad.csv"]);
  });
});

Deno.test("sampledFingerprint: SHA-256 of each file's size and 16 evenly spread 64 KiB blocks; copies agree, edits in a block or a size differ", async () => {
  await withTempDir(async (dir) => {
    const bytes = new Uint8Array(3_000_017);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const small = new TextEncoder().encode("a small file");
    const [a, b, c] = ["a.bin", "b.bin", "c.txt"].map((f) => join(dir, f));
    await Deno.writeFile(a, bytes);
    await Deno.writeFile(b, bytes);
    await Deno.writeFile(c, small);
    // Computed here from the whole files: the blocks start at round(last · k / 15), last = size − 65536.
    const expected = async (files: Uint8Array[]) => {
      const parts: number[] = [];
      for (const f of files) {
        parts.push(...new TextEncoder().encode(`${f.length};`));
        if (f.length <= 65536) parts.push(...f);
        else {
          for (let k = 0; k < 16; k++) {
            const at = Math.round(((f.length - 65536) * k) / 15);
            parts.push(...f.subarray(at, at + 65536));
          }
        }
      }
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(parts)));
      return [...digest.subarray(0, 16)].map((x) => x.toString(16).padStart(2, "0")).join("");
    };
    const print = await sampledFingerprint([a, c]);
    assertEquals(print, await expected([bytes, small]));
    assertEquals(await sampledFingerprint([b, c]), print, "a copy elsewhere");
    assert(await sampledFingerprint([c, a]) !== print, "the order of the files counts");
    // A byte inside the 8th block (which starts at round(last · 7 / 15)), and one more byte at the end.
    const edited = bytes.slice();
    edited[Math.round(((bytes.length - 65536) * 7) / 15) + 100] ^= 1;
    await Deno.writeFile(b, edited);
    assert(await sampledFingerprint([b, c]) !== print, "an edit in a sampled block");
    await Deno.writeFile(b, new Uint8Array([...bytes, 0]));
    assert(await sampledFingerprint([b, c]) !== print, "another size");
  });
});

Deno.test("results: every logprob in [-Infinity, 0] survives every format; JSONL spells -Infinity as a string", async () => {
  await withTempDir(async (dir) => {
    const logprob = Float32Array.of(-Infinity, 0, -0.125, -1e-30, -3.4e38, -Infinity, -7.5);
    const table = { ...scoreTable(true), logprob };
    for (const ext of [".parquet", ".csv", ".jsonl"]) {
      const path = join(dir, `lp${ext}`);
      await writeResults(path, table, scoreProv(true), { rowGroupRows: 3 });
      assertEquals([...(await readResults(path)).table.logprob!], [...logprob], `${ext} logprob`);
    }
    const lines = (await Deno.readTextFile(join(dir, "lp.jsonl"))).trim().split("\n");
    assertEquals(JSON.parse(lines[0]).logprob, "-Infinity", "valid JSON, -Infinity kept");
    assertEquals(JSON.parse(lines[1]).logprob, 0);
    assertEquals((await Deno.readTextFile(join(dir, "lp.csv"))).split("\n")[1].split(",")[5], "-Infinity");
  });
});

Deno.test("results: a logprob outside [-Infinity, 0] (NaN, +5, +Infinity, missing) is refused on reading and writing", async () => {
  await withTempDir(async (dir) => {
    const header = "index,score,matches,first_mismatch,memorized,logprob\n";
    const p = prov({ count: 2, rows: 2, logprob: true });
    const cases: [string, string, string, RegExp][] = [
      [
        "NaN",
        "NaN",
        '"NaN"',
        /row 2 has logprob NaN; a mean log-probability is a number in \[-Infinity, 0\]/,
      ],
      ["+5", "5", "5", /row 2 has logprob 5; a mean/],
      ["+Infinity", "Infinity", '"Infinity"', /row 2 has logprob Infinity; a mean/],
      ["empty", "", "null", /row 2 has logprob NaN/],
    ];
    for (const [what, cell, json, message] of cases) {
      const csv = join(dir, "bad.csv"), jsonl = join(dir, "bad.jsonl");
      await writePair(csv, `${header}0,0,0,0,false,-1\n1,0,0,0,false,${cell}\n`, p);
      const row = (v: string) =>
        `{"index":1,"score":0,"matches":0,"first_mismatch":0,"memorized":false,"logprob":${v}}`;
      await writePair(jsonl, `${row("-1").replace('"index":1', '"index":0')}\n${row(json)}\n`, p);
      for (const path of [csv, jsonl]) {
        const e = await assertRejects(() => readResults(path), EngramError, message);
        assert(e.message.startsWith(`${path}: `), `${what}: names the file: ${e.message}`);
      }
      // Parquet written by another tool (no missing value: a REQUIRED double).
      if (what === "empty") continue;
      const { parquetWriteBuffer } = await import("hyparquet-writer");
      const parquet = join(dir, "bad.parquet");
      await Deno.writeFile(
        parquet,
        new Uint8Array(parquetWriteBuffer({
          columnData: [
            { name: "index", data: BigInt64Array.from([0n, 1n]), type: "INT64" },
            { name: "first_mismatch", data: Int32Array.from([0, 0]), type: "INT32" },
            { name: "logprob", data: Float64Array.from([-1, Number(cell)]), type: "DOUBLE" },
          ],
        })),
      );
      await assertRejects(() => readResults(parquet), EngramError, message);
      // Writing: refused naming the row, and nothing written.
      for (const ext of [".parquet", ".csv", ".jsonl"]) {
        const out = join(dir, `out${ext}`);
        const t = {
          index: Float64Array.of(0, 1),
          matches: Int16Array.of(0, 0),
          firstMismatch: Int16Array.of(0, 0),
          logprob: Float32Array.of(-1, Number(cell)),
          continuation: 32,
        };
        await assertRejects(() => writeResults(out, t, p), EngramError, message);
        assert(!(await Deno.stat(out).catch(() => null)), `${ext}: nothing written`);
      }
    }
  });
});

Deno.test("results: a CSV whose lines end in CR alone is named as such (it read as one header with repeated names)", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "mac.csv");
    await Deno.writeTextFile(
      path,
      "index,score,matches,first_mismatch,memorized\r0,0.5,16,1,false\r1,0.5,16,1,false\r",
    );
    const e = await assertRejects(
      () => readResults(path),
      EngramError,
      "lines end in a carriage return alone",
    );
    assert(e.message.startsWith(`${path}: `) && !e.message.includes("\n"), e.message);
    // CRLF is read as before.
    await Deno.writeTextFile(path, "index,score,matches,first_mismatch,memorized\r\n0,0.5,16,1,false\r\n");
    assertEquals([...(await readResults(path)).table.matches!], [16]);
  });
});
