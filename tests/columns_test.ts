// The generic readers the report builds on: CSV in byte chunks into typed columns (numbers exactly as Number()
// reads them, booleans, strings as dictionary ids; quotes, CRLF, blank lines, cells cut by chunk ends), and
// Parquet column batches from files other writers made (Snappy, dictionaries, data page v2, lists) and from
// io/parquet.ts's own writer. Expected values are planted, or what Number()/hyparquet give.
import { parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { openCsv, parseNumber } from "../io/csv.ts";
import { openJsonl } from "../io/jsonl.ts";
import { ParquetFile, ParquetWriter } from "../io/parquet.ts";
import { AtomicFile } from "../io/files.ts";
import { EngramError } from "../engine/errors.ts";
import { join } from "../engine/path.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { withTempDir } from "./results_helpers.ts";

Deno.test("parseNumber reads decimals exactly as Number() does, without a string for the short ones", () => {
  const texts = [
    "0",
    "-0",
    "7",
    "0.53125",
    "0.96875",
    "-2.3456789255142212",
    "1e-7",
    "1E5",
    "2.5e+3",
    "8589934597",
    "9007199254740991",
    "123456789012345678901",
    "0.1",
    "0.30000000000000004",
    "  12 ",
    "+3",
    ".5",
    "5.",
    "-1e-300",
    "1e308",
    "-Infinity",
    "4.9406564584124654e-324",
    "0.000123456789012345678",
  ];
  for (const t of texts) {
    const b = new TextEncoder().encode(t);
    assertEquals(parseNumber(b, 0, b.length), Number(t), t);
  }
  for (const t of ["", "abc", "0x10", "1,5", "--1", "1e", "e5", "."]) {
    const b = new TextEncoder().encode(t);
    assert(Number.isNaN(parseNumber(b, 0, b.length)), `${JSON.stringify(t)} is not a number`);
  }
});

const CSV = [
  'model,"revision",index,score,flag,note',
  "pythia-1b,step143000,0,0.5,true,plain",
  '"pythia-1b, dedup",step143000,1,1,False,"say ""hi"""',
  "pythia-1b,step1000,2,,TRUE,",
  "",
  'pythia-160m,step143000,3,0.03125,0,"two\nlines"',
  "pythia-1b,step143000,4,1e-1,1,x",
].join("\r\n") + "\r\n";
const MODEL = ["pythia-1b", "pythia-1b, dedup", "pythia-1b", "pythia-160m", "pythia-1b"];
const REVISION = ["step143000", "step143000", "step1000", "step143000", "step143000"];

Deno.test("openCsv: typed columns and dictionary ids, quotes and CRLF, in chunks of any size and batches of any length", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.csv");
    await Deno.writeTextFile(path, CSV);
    for (const [chunkBytes, batchRows] of [[7, 2], [13, 1], [1 << 20, 1 << 20]]) {
      const reader = await openCsv(path, {
        model: { type: "dictionary" },
        revision: { type: "dictionary" },
        index: { type: "number", integer: true, min: 0 },
        score: { type: "number", nullable: true, min: 0, max: 1 },
        flag: { type: "boolean" },
        note: { type: "dictionary", nullable: true },
        absent: { type: "number", optional: true },
      }, { chunkBytes, batchRows });
      assertEquals(reader.header, ["model", "revision", "index", "score", "flag", "note"]);
      assert(!reader.has("absent"));
      const rows = {
        model: [] as string[],
        revision: [] as string[],
        index: [] as number[],
        score: [] as number[],
      };
      const flags: number[] = [], notes: (string | null)[] = [], firstRows: number[] = [];
      for await (const b of reader.batches()) {
        firstRows.push(b.firstRow);
        assertEquals(b.number("absent"), undefined);
        for (let i = 0; i < b.length; i++) {
          rows.model.push(reader.dictionary("model")[b.ids("model")![i]]);
          rows.revision.push(reader.dictionary("revision")[b.ids("revision")![i]]);
          rows.index.push(b.number("index")![i]);
          rows.score.push(b.number("score")![i]);
          flags.push(b.boolean("flag")![i]);
          const note = b.ids("note")![i];
          notes.push(note < 0 ? null : reader.dictionary("note")[note]);
        }
      }
      const context = `chunks of ${chunkBytes}, batches of ${batchRows}`;
      assertEquals(rows, {
        model: MODEL,
        revision: REVISION,
        index: [0, 1, 2, 3, 4],
        score: [0.5, 1, NaN, 0.03125, 0.1],
      }, context);
      assertEquals(flags, [1, 0, 1, 0, 1], context);
      assertEquals(notes, ["plain", 'say "hi"', null, "two\nlines", "x"], context);
      assertEquals(
        firstRows,
        Array.from({ length: Math.ceil(5 / batchRows) }, (_, k) => 1 + k * batchRows),
        context,
      );
      assertEquals(reader.dictionary("model"), ["pythia-1b", "pythia-1b, dedup", "pythia-160m"]);
    }
  });
});

Deno.test("openCsv: a cell outside the caller's range or type, or a missing column, is one line naming file and line", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.csv");
    const cases: [
      string,
      Record<string, { type: "number" | "boolean"; min?: number; max?: number; integer?: boolean }>,
      string,
    ][] = [
      [
        "index,score\n0,0.5\n1,1.5\n",
        { score: { type: "number", min: 0, max: 1 } },
        ':3: "score" is "1.5", expected a number in [0, 1]',
      ],
      [
        "index,score\n0,0.5\n1.5,1\n",
        { index: { type: "number", integer: true } },
        ':3: "index" is "1.5", expected an integer',
      ],
      ["index,score\n0,x\n", { score: { type: "number" } }, ':2: "score" is "x", not a number'],
      ["index,score\n0,\n", { score: { type: "number" } }, ':2: no "score" value; every row needs one'],
      ["index,flag\n0,yes\n", { flag: { type: "boolean" } }, ':2: "flag" is "yes", not true or false'],
      [
        "index,score\n0,1\n",
        { missing: { type: "number" } },
        'no "missing" column (the header has index, score)',
      ],
    ];
    for (const [text, columns, message] of cases) {
      await Deno.writeTextFile(path, text);
      const e = await assertRejects(
        async () => {
          for await (const _ of (await openCsv(path, columns)).batches()) { /* read on */ }
        },
        EngramError,
        message,
      );
      assert(e.message.startsWith(path), e.message);
    }
  });
});

Deno.test("openJsonl: flat records, keys in any order, escapes and extra keys through JSON.parse, missing keys empty", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.jsonl");
    await Deno.writeTextFile(
      path,
      [
        '{"index": 0, "score": 0.5, "flag": true}',
        '{"flag":false,"index":1}',
        '  {"index":2,"score":null,"flag":true,"tokens":[1,2,3],"te\\u0073t":"x"}',
        "",
        '{"index":3,"score":1e0,"flag":false}',
      ].join("\n"),
    );
    const reader = openJsonl(path, {
      index: { type: "number" },
      score: { type: "number", nullable: true },
      flag: { type: "boolean" },
    }, { chunkBytes: 9, batchRows: 3 });
    const index: number[] = [], score: number[] = [], flag: number[] = [];
    for await (const b of reader.batches()) {
      index.push(...b.number("index")!);
      score.push(...b.number("score")!);
      flag.push(...b.boolean("flag")!);
    }
    assertEquals([index, score, flag], [[0, 1, 2, 3], [0.5, NaN, NaN, 1], [1, 0, 1, 0]]);
    await Deno.writeTextFile(path, '{"index":0,"flag":true}\n{"index":"1","flag":[]}\n');
    await assertRejects(
      async () => {
        for await (const _ of reader.batches()) { /* read on */ }
      },
      EngramError,
      ':2: "flag" is [], not a single value',
    );
  });
});

Deno.test("ParquetFile: columns of other writers' files (Snappy, dictionaries, v2 pages, nulls, a list column) by row group", async () => {
  await withTempDir(async (dir) => {
    // A memorized-evals-like split: index (int64) and tokens (a list), in row groups of 3.
    const n = 8;
    const index = Array.from({ length: n }, (_, i) => BigInt(2 ** 33 + 17 * i));
    const path = join(dir, "deduped.1b.parquet");
    await Deno.writeFile(
      path,
      new Uint8Array(parquetWriteBuffer({
        columnData: [
          { name: "index", data: BigInt64Array.from(index), type: "INT64" },
          { name: "tokens", data: index.map((x) => [Number(x % 7n), 1, 2]) },
          { name: "score", data: [0.5, null, 1, 1, null, 0, 0.5, 0.25], type: "DOUBLE", nullable: true },
          { name: "flag", data: [true, false, true, true, false, true, false, false], type: "BOOLEAN" },
          { name: "small", data: Int32Array.from({ length: n }, (_, i) => i % 2), type: "INT32" },
        ],
        rowGroupSize: 3,
      })),
    );
    const file = await ParquetFile.open(path);
    assertEquals(file.rows, n);
    assertEquals(file.columnNames, ["index", "tokens", "score", "flag", "small"]);
    const got: Record<string, number[]> = { index: [], score: [], flag: [], small: [] };
    const starts: number[] = [];
    for await (const b of file.batches(["index", "score", "flag", "small"])) {
      starts.push(b.rowStart);
      for (const [name, col] of b.columns) got[name].push(...col);
    }
    assertEquals(starts, [0, 3, 6]);
    assertEquals(got.index, index.map(Number));
    assertEquals(got.score, [0.5, NaN, 1, 1, NaN, 0, 0.5, 0.25]);
    assertEquals(got.flag, [1, 0, 1, 1, 0, 1, 0, 0]);
    assertEquals(got.small, [0, 1, 0, 1, 0, 1, 0, 1]);
    await assertRejects(
      async () => {
        for await (const _ of file.batches(["tokens"])) { /* read on */ }
      },
      EngramError,
      'column "tokens" holds',
    );
    await assertRejects(
      async () => {
        for await (const _ of file.batches(["nope"])) { /* read on */ }
      },
      EngramError,
      'no column "nope"',
    );
  });
});

Deno.test("ParquetWriter: INT64 deltas past 32 bits (PLAIN), negative values, dictionaries and nulls read back alike by hyparquet and ParquetFile", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "w.parquet");
    const out = await AtomicFile.create(path);
    const w = new ParquetWriter(
      out,
      [
        { name: "a", type: "INT64", optional: false },
        { name: "d", type: "DOUBLE", optional: true, dictionary: [0, 0.25, 0.5, 0.75, 1] },
        { name: "b", type: "BOOLEAN", optional: false },
        { name: "i", type: "INT32", optional: false },
      ],
      [{ key: "k", value: "v" }],
      "test",
    );
    const groups = [
      {
        a: [5, 6, 7, 2 ** 40, 2 ** 40 + 1],
        d: [0, 4, 2, 1, 3],
        b: [1, 0, 0, 1, 1],
        i: [-5, 0, 2 ** 31 - 1, -(2 ** 31), 3],
      },
      { a: [-3, 0, 2 ** 52], d: null, b: [0, 0, 1], i: [1, 2, 3] },
      {
        a: Array.from({ length: 300 }, (_, k) => 1000 + 3 * k + (k % 7)),
        d: Array.from({ length: 300 }, (_, k) => k % 5),
        b: Array.from({ length: 300 }, (_, k) => k % 3 === 0 ? 1 : 0),
        i: Array.from({ length: 300 }, (_, k) => k),
      },
    ];
    for (const g of groups) await w.writeRowGroup(g.a.length, [g.a, g.d, g.b, g.i]);
    await w.finish();
    await out.commit();
    const dict = [0, 0.25, 0.5, 0.75, 1];
    const expect = {
      a: groups.flatMap((g) => g.a),
      d: groups.flatMap((g) => g.d ? g.d.map((k) => dict[k]) : g.a.map(() => NaN)),
      b: groups.flatMap((g) => g.b),
      i: groups.flatMap((g) => g.i),
    };
    const file = await ParquetFile.open(path);
    assertEquals(file.keyValue("k"), "v");
    const got: Record<string, number[]> = { a: [], d: [], b: [], i: [] };
    for await (const b of file.batches(["a", "d", "b", "i"])) {
      for (const [name, col] of b.columns) got[name].push(...col);
    }
    assertEquals(got, expect);
    const rows = await parquetReadObjects({ file: (await Deno.readFile(path)).buffer as ArrayBuffer });
    assertEquals(rows.map((r) => Number(r.a)), expect.a);
    assertEquals(rows.map((r) => r.d ?? NaN), expect.d);
    assertEquals(rows.map((r) => (r.b ? 1 : 0)), expect.b);
    assertEquals(rows.map((r) => r.i), expect.i);
  });
});
