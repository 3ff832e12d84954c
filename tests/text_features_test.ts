// Text features of the pico rows against plain per-row computations here (string keys, Sets, Maps), the exact
// copy count against forced hash collisions, the workers against this thread, and the cache.
import { bitsetFromFlags } from "../analysis/bitset.ts";
import {
  cachedTextFeatures,
  computeTextFeatures,
  countCopies,
  textFeatureCurves,
  type TextFeatures,
} from "../analysis/text_features.ts";
import { PICO_DATA, picoPath } from "../io/pico.ts";
import { picoReference } from "./pico_reference.ts";
import { EngramError } from "../base/errors.ts";
import { assert, assertAlmostEquals, assertEquals, assertRejects } from "./assert.ts";
import { withTempDir } from "./helpers.ts";
import { plainFeatures, windowsOf as windowsIn } from "./plain.ts";

const DATA = picoPath(PICO_DATA);
const WINDOW = { prompt: 32, continuation: 32, offset: 0 };
const windowsOf = (rows: ArrayLike<number>, w = WINDOW) => windowsIn(DATA, rows, w);

/** Rows 0..2047 and, after them, rows 0..99 again and row 7 twice more: known exact copies. */
const ROWS = Float64Array.from([...Array(2048).keys(), ...Array(100).keys(), 7, 7]);

function checkFeatures(f: TextFeatures, windows: number[][], prompt = 32) {
  const plain = plainFeatures(windows, prompt);
  assertEquals(f.rows, windows.length);
  assertEquals(f.raw_bytes, windows[0].length * 2);
  assertEquals([...f.window_copies], plain.map((p) => p.windowCopies));
  assertEquals([...f.prompt_copies], plain.map((p) => p.promptCopies));
  assertEquals([...f.compressed_bytes], plain.map((p) => p.compressed));
  assertEquals([...f.distinct_tokens], plain.map((p) => p.distinct));
  plain.forEach((p, i) => assertAlmostEquals(f.mean_log_frequency[i], p.meanLogFrequency, 1e-12));
}

Deno.test("text features of the pico rows (with repeated rows) equal plain per-row counts", async () => {
  const windows = await windowsOf(ROWS);
  const f = await computeTextFeatures(DATA, ROWS, WINDOW, { workers: 0, batch: 300 });
  checkFeatures(f, windows);
  assertEquals(f.window_copies[7], 4, "row 7 appears 4 times in the list");
  assertEquals(f.collisions, 0);
  assert(f.verified_rows >= 2 * 204, `${f.verified_rows} rows verified`);
});

Deno.test("text features: two workers give what this thread gives; another window and offset", async () => {
  const w = { prompt: 8, continuation: 24, offset: 100 };
  const rows = ROWS.subarray(1500);
  const inline = await computeTextFeatures(DATA, rows, w, { workers: 0 });
  const workers = await computeTextFeatures(DATA, rows, w, { workers: 2, batch: 64 });
  checkFeatures(inline, await windowsOf(rows, w), 8);
  assertEquals(workers, inline);
});

Deno.test("text features: row indices past 2^32 are kept whole (not wrapped to 32 bits)", async () => {
  // A source whose row r holds tokens r mod 2^32 + 1, ...: row 2^32 + 5 would read as row 5 if its index wrapped.
  const big = 2 ** 32 + 5, asked: number[] = [];
  const source = {
    description: "rows past 2^32",
    numRows: 2 ** 33,
    read: (rows: ArrayLike<number>, _offset: number, length: number) => {
      asked.push(...Array.from(rows));
      const out = new Uint32Array(rows.length * length);
      for (let i = 0; i < rows.length; i++) {
        for (let p = 0; p < length; p++) out[i * length + p] = (rows[i] === big ? 7 : rows[i]) + p;
      }
      return Promise.resolve(out);
    },
    close: () => {},
  };
  const f = await computeTextFeatures(source, [big, 5, big, 7], { prompt: 2, continuation: 2, offset: 0 });
  assertEquals([...f.window_copies], [3, 1, 3, 3], "row 2^32 + 5 holds row 7's text, not row 5's");
  assert(asked.includes(big), `rows read: ${asked}`);
});

Deno.test("countCopies: rows sharing a hash are compared, so collisions split into their texts", async () => {
  // Texts (length 2) by row: A B A C B A D; hashes force A, B and C into one group and D alone.
  const texts = [[1, 2], [3, 4], [1, 2], [5, 6], [3, 4], [1, 2], [7, 8]];
  const hi = Uint32Array.from([9, 9, 9, 9, 9, 9, 1]), lo = Uint32Array.from([5, 5, 5, 5, 5, 5, 2]);
  const tokensOf = (rows: Uint32Array) =>
    Promise.resolve(Uint32Array.from([...rows].flatMap((r) => texts[r])));
  for (const batch of [1, 2, 4096]) {
    const { copies, verified, collisions } = await countCopies(hi, lo, 2, tokensOf, batch);
    assertEquals([...copies], [3, 2, 3, 1, 2, 3, 1], `batch ${batch}`);
    assertEquals([verified, collisions], [6, 1]);
  }
  const none = await countCopies(Uint32Array.from([1, 2]), Uint32Array.from([1, 1]), 2, tokensOf);
  assertEquals([...none.copies], [1, 1]);
});

Deno.test("text features are cached beside the report, keyed by the rows, the window and the tokenizer", async () => {
  await withTempDir(async (dir) => {
    const rows = ROWS.subarray(0, 300);
    const first = await cachedTextFeatures(dir, DATA, rows, WINDOW, { workers: 0 });
    const second = await cachedTextFeatures(dir, DATA, rows, WINDOW, { workers: 0 });
    assertEquals([first.cached, second.cached], [false, true]);
    assertEquals(second.features, first.features);
    const other = await cachedTextFeatures(dir, DATA, rows, { ...WINDOW, offset: 1 }, { workers: 0 });
    assertEquals(other.cached, false);
    const fewer = await cachedTextFeatures(dir, DATA, rows.subarray(1), { ...WINDOW, offset: 1 }, {
      workers: 0,
    });
    assertEquals(fewer.cached, false);
    // Rows of texts depend on their tokenizer: features of another one are not taken from the cache.
    const tokenizer = picoPath("fixtures/pico/tokenizer/tokenizer.json");
    const copy = `${dir}/other-tokenizer.json`;
    await Deno.copyFile(tokenizer, copy);
    const byTokenizer = async (path: string) =>
      (await cachedTextFeatures(dir, DATA, rows, WINDOW, { workers: 0, tokenizer: path })).cached;
    assertEquals([await byTokenizer(tokenizer), await byTokenizer(tokenizer)], [false, true]);
    assertEquals([await byTokenizer(copy), await byTokenizer(tokenizer)], [false, false]);
    await Deno.remove(copy);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["text-features.bin"]);
    // A damaged cache is a miss: computed again (the same features) and rewritten, never an error.
    const file = `${dir}/text-features.bin`;
    await cachedTextFeatures(dir, DATA, rows, WINDOW, { workers: 0 }); // the tokenizer's replaced it
    const intact = await Deno.readFile(file);
    const headerLength = new DataView(intact.buffer).getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(intact.subarray(12, 12 + headerLength)));
    const withHeader = (edit: (h: typeof header) => void) => {
      const h = structuredClone(header);
      edit(h);
      const text = new TextEncoder().encode(JSON.stringify(h).padEnd(headerLength));
      assert(text.length === headerLength, "the edited header keeps its length");
      const bytes = intact.slice();
      bytes.set(text, 12);
      return bytes;
    };
    const damaged: [string, Uint8Array][] = [
      [
        "a header that is not JSON",
        (() => {
          const b = intact.slice();
          b[12] = "x".charCodeAt(0);
          return b;
        })(),
      ],
      [
        "a header length past the end",
        (() => {
          const b = intact.slice();
          new DataView(b.buffer).setUint32(8, 0xfffffff0, true);
          return b;
        })(),
      ],
      ["an unknown array type", withHeader((h) => h.arrays[0].type = "Function")],
      ["an array past the end", withHeader((h) => h.arrays[4].length = 999)],
      ["a missing array", withHeader((h) => h.arrays.pop())],
      ["a truncated file", intact.subarray(0, intact.length - 8)],
    ];
    for (const [what, bytes] of damaged) {
      await Deno.writeFile(file, bytes);
      const again = await cachedTextFeatures(dir, DATA, rows, WINDOW, { workers: 0 });
      assertEquals(again.cached, false, what);
      assertEquals(again.features, first.features, what);
      assertEquals(await Deno.readFile(file), intact, `${what}: rewritten`);
    }
    // Reports computing the same features at once (two --target, one data set) each write a whole cache: they
    // wrote one .partial file, and the later renames found it gone.
    await Deno.remove(file);
    const together = await Promise.all(
      [0, 1, 2].map(() => cachedTextFeatures(dir, DATA, rows, WINDOW, { workers: 0 })),
    );
    // (One may find another's finished cache: which of them computes depends on timing; none fails.)
    assert(together.some((t) => !t.cached), "at least one computed the features");
    for (const t of together) assertEquals(t.features, first.features);
    assertEquals(await Deno.readFile(file), intact);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["text-features.bin"]);
    // A cache folder that cannot be made (under a file) is one clear error, before any feature is computed.
    const e = await assertRejects(
      () => cachedTextFeatures(`${dir}/text-features.bin/sub`, DATA, rows, WINDOW, { workers: 0 }),
      EngramError,
    );
    assert(/cannot write the text features cache .*--cache DIR elsewhere/.test(e.message), e.message);
  }, "engram-text-features-");
});

Deno.test("text features of data rewritten in place with the same size and mtime are computed again", async () => {
  await withTempDir(async (dir) => {
    // `cp -p`, `rsync -t` or an unpacked archive: other tokens, the same size and modification time.
    const prefix = `${dir}/data/document`, bin = `${prefix}.bin`;
    await Deno.mkdir(`${dir}/data`);
    for (const ext of [".bin", ".idx"]) await Deno.copyFile(`${DATA}${ext}`, `${prefix}${ext}`);
    const rows = ROWS.subarray(0, 300), cache = `${dir}/cache`;
    const before = await cachedTextFeatures(cache, prefix, rows, WINDOW, { workers: 0 });
    const { mtime, atime } = await Deno.stat(bin);
    const tokens = new Uint16Array((await Deno.readFile(bin)).buffer);
    tokens.reverse(); // valid tokens still, in other windows
    await Deno.writeFile(bin, new Uint8Array(tokens.buffer));
    await Deno.utime(bin, atime!, mtime!);
    assertEquals((await Deno.stat(bin)).mtime, mtime);
    const after = await cachedTextFeatures(cache, prefix, rows, WINDOW, { workers: 0 });
    assertEquals(after.cached, false);
    assertEquals(after.features, await computeTextFeatures(prefix, rows, WINDOW, { workers: 0 }));
    assert(
      [...after.features.compressed_bytes].join() !== [...before.features.compressed_bytes].join(),
      "the rewritten data has other texts",
    );
  }, "engram-text-features-rewritten-");
});

Deno.test("text features as forecasts of pico-3@step1092's memorized rows: AP by plain loops", async () => {
  const reference = await picoReference();
  const labels = reference.get("pico-3@step1092")!.map((r) => r.score === 1);
  const rows = ROWS.subarray(0, 2048);
  const f = await computeTextFeatures(DATA, rows, WINDOW, { workers: 0 });
  const curves = textFeatureCurves(f, bitsetFromFlags(labels.map(Number)), "pico-3@step1092");
  assertEquals(curves.map((c) => c.curve.feature), [
    "window_copies",
    "prompt_copies",
    "compressed_bytes",
    "distinct_tokens",
    "mean_log_frequency",
  ]);
  const columns = [
    [f.window_copies, 1],
    [f.prompt_copies, 1],
    [f.compressed_bytes, -1],
    [f.distinct_tokens, -1],
    [f.mean_log_frequency, 1],
  ] as const;
  columns.forEach(([values, sign], c) => {
    // AP = Σ over distinct thresholds (best first) of (ΔR)·P, by brute force.
    const v = [...values].map((x) => sign * x), distinct = [...new Set(v)].sort((a, b) => b - a);
    let ap = 0, previous = 0;
    for (const t of distinct) {
      let tp = 0, fp = 0;
      v.forEach((x, i) => x >= t && (labels[i] ? tp++ : fp++));
      ap += (tp / 12 - previous) * (tp / (tp + fp));
      previous = tp / 12;
    }
    assertAlmostEquals(curves[c].curve.average_precision!, ap, 1e-12, curves[c].curve.feature);
  });
});
