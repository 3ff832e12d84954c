// EleutherAI's memorized-evals lists as published (data/<split>-0000k-of-0000N-<hash>.parquet; index, tokens,
// __index_level_0__), the fixtures written by DuckDB (scripts/published-lists.ts) from the pico rows: the whole
// data/ folder is read, deduped.1b.new is taken over deduped.1b (and the report says so), and the memorized
// samples are decoded from the lists' own tokens with no training data.
import { publishedList } from "../analysis/load.ts";
import { computeReport } from "../analysis/report.ts";
import { visible } from "../analysis/samples.ts";
import { MegatronDataset } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { listedTokens } from "../io/published.ts";
import { loadTokenizer } from "../io/texts.ts";
import { parquetWriteBuffer } from "hyparquet-writer";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { FIXTURES, PICO_DATA, runCli, withTempDir } from "./helpers.ts";
import { tokenRows, writeMegatron } from "./megatron.ts";

const LISTS = join(FIXTURES, "published/data");
const TOKENIZER = join(FIXTURES, "pico/tokenizer");
const UNIVERSE = 2048; // the pico rows the lists were drawn from
const OLD = "deduped.1b-00000-of-00001-a0d4e2c96b1f7358.parquet";
const NEW = [
  "deduped.1b.new-00000-of-00002-86e948f5c2689f6a.parquet",
  "deduped.1b.new-00001-of-00002-86e948f5c2689f6a.parquet",
];
const SMALL = "duped.160m-00000-of-00001-3f1c0a9d2b7e4c15.parquet";
/** The rows each fixture list holds (see scripts/published-lists.ts). */
const rowsWhere = (keep: (r: number) => boolean) =>
  Array.from({ length: UNIVERSE }, (_, r) => r).filter(keep);

Deno.test("published list names: split, model@revision, and .new", () => {
  assertEquals(publishedList(`data/${NEW[1]}`), {
    split: "deduped.1b.new",
    model: "pythia-1b-deduped",
    revision: "step143000",
    newer: true,
  });
  assertEquals(publishedList(`data/${OLD}`), {
    split: "deduped.1b",
    model: "pythia-1b-deduped",
    revision: "step143000",
    newer: false,
  });
  assertEquals(
    publishedList("data/duped.12b.23000-00000-of-00001-0123456789abcdef.parquet")?.revision,
    "step23000",
  );
  assertEquals(publishedList("default/duped.1.4b/0000.parquet")?.split, "duped.1.4b");
});

Deno.test("report on the published data/ folder: deduped.1b.new over deduped.1b, said in a note; samples decoded from the lists' tokens without --data", async () => {
  const { report } = await computeReport({ results: [LISTS], universe: UNIVERSE, tokenizer: TOKENIZER });
  assertEquals(report.target, "pythia-1b-deduped@step143000");
  assertEquals(report.inputs.map((i) => i.file).sort(), [...NEW, SMALL].map((f) => join(LISTS, f)).sort());
  const newer = rowsWhere((r) => r % 53 === 1);
  const target = report.sources.find((s) => s.source === report.target)!;
  assertEquals(target.memorized, newer.length, "the .new list alone, not its union with the older");
  assertEquals(report.sources.find((s) => s.source === "pythia-160m@step143000")!.memorized, 22);
  const note = report.notes.find((n) => n.includes("memorized-evals lists read"));
  assert(note, `a note says which lists were read: ${report.notes.join(" | ")}`);
  assertMatch(
    note,
    /pythia-1b-deduped@step143000 from deduped\.1b\.new \(the newer of deduped\.1b and deduped\.1b\.new; pass deduped\.1b's files alone/,
  );
  assertMatch(note, /pythia-160m@step143000 from duped\.160m/);

  // Samples: the rows' own text, decoded independently here from the pico data.
  const samples = report.samples!;
  assertEquals(samples.length, 10);
  assertMatch(report.samples_note!, /decoded from the tokens of EleutherAI's list deduped\.1b\.new/);
  const data = await MegatronDataset.open(PICO_DATA), tokenizer = await loadTokenizer(TOKENIZER);
  try {
    for (const s of samples) {
      assert(newer.includes(s.index), `sample ${s.index} is listed by deduped.1b.new`);
      const t = Array.from(await data.read([s.index], 0, 64));
      assertEquals(s.prompt, visible(tokenizer.decode(t.slice(0, 32))), `prompt of ${s.index}`);
      assertEquals(s.continuation, visible(tokenizer.decode(t.slice(32))), `continuation of ${s.index}`);
    }
  } finally {
    data.close();
  }
  // Given --data too, the samples are the same.
  const { report: withData } = await computeReport({
    results: [LISTS],
    universe: UNIVERSE,
    tokenizer: TOKENIZER,
    data: PICO_DATA,
    textFeatures: false,
  });
  assertEquals(withData.samples, samples);
});

Deno.test("published lists: the older list alone is read as given; two lists of one model@revision other than X and X.new are refused; no tokenizer, no samples", async () => {
  await withTempDir(async (dir) => {
    for (const f of [OLD, SMALL]) await Deno.copyFile(join(LISTS, f), join(dir, f));
    const { report } = await computeReport({ results: [dir], universe: UNIVERSE });
    const target = report.sources.find((s) => s.source === "pythia-1b-deduped@step143000")!;
    assertEquals(target.memorized, rowsWhere((r) => r % 61 === 0).length);
    assert(
      report.notes.some((n) => n.includes("pythia-1b-deduped@step143000 from deduped.1b;")),
      report.notes.join("|"),
    );
    assertEquals(report.samples, null);
    assertMatch(report.samples_note!, /pass --tokenizer DIR to see the memorized rows as text/);

    // Training data other than the rows the lists were drawn from is refused (no provenance to check it by).
    const other = join(dir, "other");
    await writeMegatron(other, tokenRows(UNIVERSE, 100));
    await assertRejects(
      () => computeReport({ results: [dir], universe: UNIVERSE, data: other, textFeatures: false }),
      EngramError,
      `--data ${other} is not the data pythia-1b-deduped@step143000's memorized-evals list was drawn from: row 0's`,
    );

    // deduped.1b.143000 is deduped.1b's model@revision under another name: which one is meant is not for engram.
    await Deno.copyFile(
      join(LISTS, OLD),
      join(dir, "deduped.1b.143000-00000-of-00001-0123456789abcdef.parquet"),
    );
    await assertRejects(
      () => computeReport({ results: [dir], universe: UNIVERSE }),
      EngramError,
      "pythia-1b-deduped@step143000 comes as the memorized-evals lists deduped.1b and deduped.1b.143000",
    );
  });
});

Deno.test("report command on the published data/ folder with --tokenizer and no --data", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "report");
    const r = await runCli([
      "report",
      "--results",
      LISTS,
      "--universe",
      String(UNIVERSE),
      "--tokenizer",
      TOKENIZER,
      "--out",
      out,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /note: EleutherAI's memorized-evals lists read: .*deduped\.1b\.new \(the newer/);
    const md = await Deno.readTextFile(join(out, "report.md"));
    assertMatch(md, /deduped\.1b\.new/);
  });
});

Deno.test("list tokens read page by page: DuckDB (v1 pages, several row groups, four codecs) and hyparquet-writer (v2 pages, several a row group, dictionary or plain)", async () => {
  const n = 5000;
  const length = (r: number) => 1 + (r * 7) % 70;
  const token = (r: number, p: number) => (r * 131 + p * 17) % 50000 + (r % 97 === 5 ? 4_000_000_000 : 0);
  const lists = Array.from({ length: n }, (_, r) => Array.from({ length: length(r) }, (_, p) => token(r, p)));
  const index = (r: number) => (r * 7919) % n; // the rows listed out of order, as a list may be
  const wanted = [0, 1, 2, 699, 700, 701, 2047, 2048, 2049, 3001, 4096, 4999].map(index);
  const expected = new Map(wanted.map((x) => [x, lists[wanted.indexOf(x) >= 0 ? rowOf(x) : 0]]));
  function rowOf(x: number) {
    return lists.findIndex((_, r) => index(r) === x);
  }
  await withTempDir(async (dir) => {
    // Written by DuckDB (scripts/published-lists.ts; DuckDB is no test dependency).
    for (const codec of ["snappy", "uncompressed", "gzip", "zstd"]) {
      const path = join(FIXTURES, `published/pages/deduped.70m-${codec}.parquet`);
      assertEquals(await listedTokens([path], wanted), expected, codec);
    }
    for (const codec of ["SNAPPY", "UNCOMPRESSED"] as const) {
      for (const encoding of ["PLAIN", "RLE_DICTIONARY"] as const) {
        const path = join(dir, `deduped.70m-${codec}-${encoding}.parquet`);
        await Deno.writeFile(
          path,
          new Uint8Array(parquetWriteBuffer({
            codec,
            rowGroupSize: 1500,
            pageSize: 2000,
            columnData: [
              { name: "index", data: BigInt64Array.from(lists, (_, r) => BigInt(index(r))) },
              { name: "tokens", data: lists.map((l) => l.map(BigInt)), encoding },
            ],
            schema: [ // tokens list<int64> in the three-level layout pyarrow writes
              { name: "root", num_children: 2 },
              { name: "index", type: "INT64", repetition_type: "REQUIRED" },
              { name: "tokens", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
              { name: "list", repetition_type: "REPEATED", num_children: 1 },
              { name: "element", type: "INT64", repetition_type: "OPTIONAL" },
            ],
          })),
        );
        assertEquals(await listedTokens([path], wanted), expected, `${codec} ${encoding}`);
      }
    }
  });
});
