// The generic readers the report builds on: CSV in byte chunks into typed columns (numbers exactly as Number()
// reads them, booleans, strings as dictionary ids; quotes, CRLF, blank lines, cells cut by chunk ends), and
// Parquet column batches from files other writers made (Snappy, dictionaries, data page v2, lists) and from
// io/parquet.ts's own writer. Expected values are planted, or what Number()/hyparquet give.
import { parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { openCsv, parseNumber } from "../io/csv.ts";
import { openJsonl } from "../io/jsonl.ts";
import { ParquetFile, ParquetWriter } from "../io/parquet.ts";
import { AtomicFile } from "../base/atomic.ts";
import { CompactWriter, ThriftType } from "../io/thrift.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { withTempDir } from "./helpers.ts";

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

Deno.test("parseNumber equals Number() on every text a results file holds and on random decimals of up to 19 digits, near ties included", () => {
  let seed = 20261128;
  const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const f64 = new Float64Array(1), u32 = new Uint32Array(f64.buffer);
  /** n · 2^exponent (n ≥ 0) exactly, in decimal. */
  const exactDecimal = (n: bigint, exponent: number) => {
    const s = Math.max(0, -exponent), shift = BigInt(Math.abs(exponent));
    const digits = (s === 0 ? n << shift : n * 10n ** BigInt(s) >> shift).toString().padStart(s + 1, "0");
    return `${digits.slice(0, digits.length - s)}.${digits.slice(digits.length - s) || "0"}`;
  };
  /** The midpoint of x (made even) and the next double up, exactly: Number() rounds it to even. */
  const midpoint = (x: number) => {
    f64[0] = x;
    u32[0] &= ~1;
    const exponent = ((u32[1] >>> 20) & 0x7ff) - 1075; // f64[0] = mantissa · 2^exponent
    return exactDecimal(2n * BigInt(f64[0] * 2 ** -exponent) + 1n, exponent - 1);
  };
  /** `text` cut to 19 significant digits, its last one moved by −1, 0 or +1. */
  const near = (text: string) => {
    let seen = 0, at = 0;
    while (seen < 19 && at < text.length) {
      if (/[1-9]/.test(text[at++]) || (seen > 0 && text[at - 1] !== ".")) seen++;
    }
    const last = Number(text[at - 1]), moved = Math.min(9, Math.max(0, last + Math.floor(random() * 3) - 1));
    return text.slice(0, at - 1) + moved;
  };
  const families: [string, () => string][] = [
    // What score writes: String() of a float32 log-probability widened to a double (17 digits, e-forms).
    ["logprob", () => String(-Math.fround(random() * 30))],
    ["small logprob", () => String(-Math.fround(random() * 10 ** -(1 + random() * 9)))],
    ["any double", () => {
      u32[0] = random() * 2 ** 32;
      u32[1] = random() * 2 ** 32;
      return String(f64[0]);
    }],
    ["17-19 random digits", () => {
      let t = "";
      for (let n = 17 + Math.floor(random() * 3), i = 0; i < n; i++) t += Math.floor(random() * 10);
      const point = Math.floor(random() * t.length);
      const e = random() < 0.3 ? `e${Math.floor(random() * 30) - 15}` : "";
      return `${random() < 0.5 ? "-" : ""}${t.slice(0, point)}.${t.slice(point)}${e}`;
    }],
    // Halfway between neighbouring doubles (ties), exact in up to 20 digits, and near halfway in 19 digits.
    ["ties", () => midpoint(2 ** (49 + random() * 11))],
    ["near ties", () => near(midpoint(2 ** (random() < 0.5 ? 49 + random() * 11 : random() * 40 - 20)))],
    // Within half an ulp below a power of two, where the gap to the next double down is half the one up.
    ["below powers of two", () => {
      const below = 1n + BigInt(Math.floor(random() * 511)); // 2^e − below/1024 ulps of 2^e
      return near(exactDecimal(2n ** 62n - below, Math.floor(random() * 80) - 20 - 62));
    }],
  ];
  const edges = [
    "-0",
    "0",
    "-0.0",
    "5e-324",
    "-4.9406564584124654e-324",
    "2.2250738585072014e-308",
    "1.7976931348623157e+308",
    "-1.7976931348623157e308",
    "1e23",
    "9007199254740993",
    "9007199254740993.0",
    "-9007199254740993.00",
    "2262132192260380.75",
    "13614003289833861.0",
    "0.30000000000000004",
    "-0.000001",
    "-1e-7",
    "-1.1920929e-7",
    "-3.2179999351501465",
    "-9.999999999999999e-23",
    "-1.2345678901234567e-22",
    "-1.2345678901234567e-23",
    "-Infinity",
    "1234567890123456789",
    "1234567890123456789e-22",
    "0.1234567890123456789",
    "9999999999999999999e-19",
    "-",
    "-.5",
    "+.5e-3",
    "1.e2",
    "-12345678901234567.e-5",
  ];
  const check = (t: string) => {
    const b = new TextEncoder().encode(t);
    const v = parseNumber(b, 0, b.length), expected = Number(t);
    if (!Object.is(v, expected)) throw new Error(`parseNumber("${t}") = ${v}, Number() = ${expected}`);
  };
  edges.forEach(check);
  for (const [, make] of families) for (let k = 0; k < 20000; k++) check(make());
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

// --- a file laid out as pyarrow writes one (EleutherAI's memorized-evals were written by pandas/pyarrow) ---
// hyparquet-writer writes only data page v2; pyarrow writes v1 pages (levels and values compressed together),
// Snappy, OPTIONAL columns with definition levels, a dictionary page whose data pages fall back to PLAIN once
// the dictionary is full, and the tokens as a list<int64>. Built here byte by byte from the format's spec.

/** Unsigned LEB128. */
const varint = (v: number): number[] => {
  const out: number[] = [];
  for (; v >= 128; v = Math.floor(v / 128)) out.push((v % 128) | 128);
  out.push(v);
  return out;
};
const u32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];
const int64s = (values: bigint[]) => [...new Uint8Array(BigInt64Array.from(values).buffer)];

/** The RLE/bit-packed hybrid: runs of equal values as RLE runs. */
function rleRuns(values: number[], width: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length;) {
    let j = i;
    while (j < values.length && values[j] === values[i]) j++;
    out.push(...varint((j - i) * 2));
    for (let b = 0; b < Math.ceil(width / 8); b++) out.push((values[i] >> (8 * b)) & 255);
    i = j;
  }
  return out;
}

/** The hybrid as one bit-packed run (values LSB first, padded to a multiple of 8 values). */
function bitPacked(values: number[], width: number): number[] {
  const groups = Math.ceil(values.length / 8), out = [...varint(groups * 2 + 1)];
  const bytes = new Array(groups * width).fill(0);
  values.forEach((v, k) => {
    for (let b = 0; b < width; b++) {
      if ((v >> b) & 1) bytes[(k * width + b) >> 3] |= 1 << ((k * width + b) & 7);
    }
  });
  return [...out, ...bytes];
}

/** Snappy with literals only (a valid stream: every decoder reads it; copies are what compressors add). */
function snappyLiterals(data: number[]): number[] {
  const out = varint(data.length);
  for (let i = 0; i < data.length; i += 60) {
    const piece = data.slice(i, i + 60);
    out.push((piece.length - 1) << 2, ...piece);
  }
  return out;
}

type Codec = "SNAPPY" | "UNCOMPRESSED";
const ENCODING = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;

/** One page: its header and body (compressed as the codec says). */
function page(
  codec: Codec,
  body: number[],
  header: (w: CompactWriter, sizes: [number, number]) => CompactWriter,
): number[] {
  const stored = codec === "SNAPPY" ? snappyLiterals(body) : body;
  return [...header(new CompactWriter(), [body.length, stored.length]).end(), ...stored];
}

const dataPage = (codec: Codec, values: number, encoding: number, body: number[]) =>
  page(codec, body, (w, [u, c]) =>
    w.i32(1, 0).i32(2, u).i32(3, c).struct(
      5,
      (d) => d.i32(1, values).i32(2, encoding).i32(3, ENCODING.RLE).i32(4, ENCODING.RLE),
    ));

interface Chunk {
  path: string[];
  codec: Codec;
  values: number;
  bytes: number[];
  dictionary: boolean;
}

/** index: OPTIONAL INT64 in pages: [values | null][] per page, dictionary-encoded pages first when `dict`. */
function indexChunk(codec: Codec, pages: (bigint | null)[][], dict: bigint[] | null): Chunk {
  const bytes: number[] = [];
  if (dict) {
    bytes.push(
      ...page(
        codec,
        int64s(dict),
        (w, [u, c]) =>
          w.i32(1, 2).i32(2, u).i32(3, c).struct(7, (d) => d.i32(1, dict.length).i32(2, ENCODING.PLAIN)),
      ),
    );
  }
  for (const values of pages) {
    const defined = values.map((v) => (v === null ? 0 : 1));
    const levels = defined.includes(0) ? bitPacked(defined, 1) : rleRuns(defined, 1);
    const present = values.filter((v) => v !== null) as bigint[];
    const useDict = dict !== null && present.every((v) => dict.includes(v));
    const width = dict ? Math.max(1, Math.ceil(Math.log2(dict.length))) : 0;
    const encoded = useDict
      ? [width, ...bitPacked(present.map((v) => dict!.indexOf(v)), width)]
      : int64s(present);
    bytes.push(
      ...dataPage(codec, values.length, useDict ? ENCODING.RLE_DICTIONARY : ENCODING.PLAIN, [
        ...u32(levels.length),
        ...levels,
        ...encoded,
      ]),
    );
  }
  return { path: ["index"], codec, values: pages.flat().length, bytes, dictionary: dict !== null };
}

/** tokens: OPTIONAL list of OPTIONAL INT64 (repetition levels, then definition levels 0..3), one PLAIN page. */
function tokensChunk(codec: Codec, rows: bigint[][]): Chunk {
  const rep = rows.flatMap((r) => r.map((_, k) => (k === 0 ? 0 : 1)));
  const def = rows.flatMap((r) => r.map(() => 3));
  const r = rleRuns(rep, 1), d = rleRuns(def, 2);
  const body = [...u32(r.length), ...r, ...u32(d.length), ...d, ...int64s(rows.flat())];
  const bytes = dataPage(codec, rep.length, ENCODING.PLAIN, body);
  return { path: ["tokens", "list", "element"], codec, values: rep.length, bytes, dictionary: false };
}

/** The whole file: row groups of [index, tokens] chunks, then the footer. */
function pyarrowLikeFile(groups: { rows: number; chunks: Chunk[] }[]): Uint8Array {
  const out = [..."PAR1"].map((c) => c.charCodeAt(0));
  const placed = groups.map((g) => ({
    rows: g.rows,
    chunks: g.chunks.map((c) => {
      const offset = out.length;
      out.push(...c.bytes);
      return { ...c, offset };
    }),
  }));
  const w = new CompactWriter().i32(1, 1);
  const schema = [
    { name: "schema", children: 2 },
    { name: "index", type: 2, repetition: 1 },
    { name: "tokens", repetition: 1, children: 1, converted: 3 },
    { name: "list", repetition: 2, children: 1 },
    { name: "element", type: 2, repetition: 1 },
  ];
  w.list(2, ThriftType.STRUCT, schema, (el) => {
    if (el.type !== undefined) w.i32(1, el.type);
    if (el.repetition !== undefined) w.i32(3, el.repetition);
    w.binary(4, el.name);
    if (el.children !== undefined) w.i32(5, el.children);
    if (el.converted !== undefined) w.i32(6, el.converted);
  });
  w.i64(3, groups.reduce((n, g) => n + g.rows, 0));
  w.list(4, ThriftType.STRUCT, placed, (g) => {
    w.list(1, ThriftType.STRUCT, g.chunks, (c) => {
      w.i64(2, c.offset).struct(3, () => {
        w.i32(1, 2);
        w.list(2, ThriftType.I32, c.dictionary ? [0, 3, 8] : [0, 3]);
        w.list(3, ThriftType.BINARY, c.path);
        w.i32(4, c.codec === "SNAPPY" ? 1 : 0);
        w.i64(5, c.values).i64(6, c.bytes.length).i64(7, c.bytes.length).i64(9, c.offset);
        if (c.dictionary) w.i64(11, c.offset);
      });
    });
    w.i64(2, g.chunks.reduce((n, c) => n + c.bytes.length, 0)).i64(3, g.rows);
  });
  w.binary(6, "parquet-cpp-arrow version 14.0.2");
  const footer = w.end();
  out.push(...footer, ...u32(footer.length), ..."PAR1".split("").map((c) => c.charCodeAt(0)));
  return Uint8Array.from(out);
}

Deno.test("ParquetFile: a file laid out as pyarrow writes one (v1 pages, Snappy, dictionary then PLAIN fallback, definition levels, a list column it skips)", async () => {
  await withTempDir(async (dir) => {
    const big = 2n ** 35n;
    // Row group 0 (Snappy): a dictionary of 6 values, two dictionary-encoded pages, then PLAIN pages for
    // values not in it (as when pyarrow's dictionary outgrows its page limit). Row group 1 (uncompressed):
    // PLAIN pages with a null.
    const dict = [5n, 9n, 2n, big + 1n, 77n, 1000n];
    const g0 = [[5n, 9n, 2n, 9n, big + 1n], [77n, 1000n, 5n], [big + 500n, 12n, 13n, 14n], [15n]];
    const g1 = [[20n, null, 22n], [big * 3n, 24n]];
    const tokensOf = (rows: (bigint | null)[]) => rows.map((x, k) => [BigInt(k), (x ?? 0n) % 1000n, 7n]);
    const rows0 = g0.flat(), rows1 = g1.flat();
    const path = join(dir, "duped.1.4b.parquet");
    await Deno.writeFile(
      path,
      pyarrowLikeFile([
        {
          rows: rows0.length,
          chunks: [indexChunk("SNAPPY", g0, dict), tokensChunk("SNAPPY", tokensOf(rows0))],
        },
        {
          rows: rows1.length,
          chunks: [indexChunk("UNCOMPRESSED", g1, null), tokensChunk("UNCOMPRESSED", tokensOf(rows1))],
        },
      ]),
    );
    const expected = [...rows0, ...rows1].map((x) => (x === null ? NaN : Number(x)));
    // An independent reader agrees the file is what was planted (both columns).
    const objects = await parquetReadObjects({ file: (await Deno.readFile(path)).buffer as ArrayBuffer });
    assertEquals(objects.map((o) => (o.index === null ? NaN : Number(o.index))), expected);
    assertEquals(
      objects.map((o) => (o.tokens as bigint[]).map(Number)),
      [...tokensOf(rows0), ...tokensOf(rows1)].map((t) => t.map(Number)),
    );
    const file = await ParquetFile.open(path);
    assertEquals(file.columnNames, ["index", "tokens"]);
    for (const reuse of [false, true]) {
      const got: number[] = [], starts: number[] = [], arrays = new Set<ArrayBufferLike>();
      for await (const b of file.batches(["index"], { reuse })) {
        starts.push(b.rowStart);
        got.push(...b.columns.get("index")!);
        arrays.add(b.columns.get("index")!.buffer);
      }
      assertEquals(got, expected, `reuse ${reuse}`);
      assertEquals(starts, [0, rows0.length]);
      assertEquals(arrays.size, reuse ? 1 : 2, "one buffer for all row groups when reused");
    }
  });
});
