// Row sources (io/rows.ts): Megatron datasets (the pico fixture and ones written here), npy files and rows in
// memory read exactly, with one-line errors for bad files; the files a data path's fingerprint covers.
import { MegatronDataset, MemoryRows, NpyRows, openRowSource, rowSourceFiles } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { assertRowLength } from "./helpers.ts";
import { writeMegatron } from "./megatron.ts";

const FIXTURE = "fixtures/pico/data/pico_document";

/** Writes a .npy v1 file with the given header fields and raw little-endian data. */
async function writeNpy(path: string, descr: string, shape: number[], data: Uint8Array, fortran = false) {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, 'shape': (${
    shape.join(", ")
  }${shape.length === 1 ? "," : ""}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = new TextEncoder().encode(dict + " ".repeat(pad % 64) + "\n");
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, ..."NUMPY"].map((c) => typeof c === "number" ? c : c.charCodeAt(0)));
  out.set([1, 0, header.length & 0xff, header.length >> 8], 6);
  out.set(header, 10);
  out.set(data, 10 + header.length);
  await Deno.writeFile(path, out);
}

Deno.test("Megatron fixture: layout, tokens match an independent parse, any-order rows", async () => {
  const idx = new DataView((await Deno.readFile(`${FIXTURE}.idx`)).buffer);
  const bin = new DataView((await Deno.readFile(`${FIXTURE}.bin`)).buffer);
  const n = Number(idx.getBigUint64(18, true));
  const pointerOf = (r: number) => Number(idx.getBigInt64(34 + n * 4 + r * 8, true));
  const manual = (r: number, p: number) => bin.getUint16(pointerOf(r) + p * 2, true);

  const ds = await MegatronDataset.open(FIXTURE);
  try {
    assertEquals(ds.numRows, 2048);
    assertEquals(n, 2048);
    await assertRowLength(ds, 0, 257);
    await assertRowLength(ds, 2047, 257);
    assertEquals(ds.description, `${FIXTURE} (Megatron, uint16, 2048 rows)`);
    assertEquals(await ds.read([0], 0, 16), Uint32Array.from({ length: 16 }, (_, p) => manual(0, p)));

    const got = await ds.read([5, 3, 1000], 10, 20, 2048);
    const want = [5, 3, 1000].flatMap((r) => Array.from({ length: 20 }, (_, p) => manual(r, 10 + p)));
    assertEquals(got, Uint32Array.from(want));
    assertEquals(
      await ds.read([7, 7], 250, 7),
      Uint32Array.from(
        [250, 251, 252, 253, 254, 255, 256, 250, 251, 252, 253, 254, 255, 256].map((p) => manual(7, p)),
      ),
    );

    // The batched path (rows grouped into few reads): 1024 rows × 64 tokens, sequential and shuffled, every
    // token checked. Its speed is measured by the benchmarks, not here.
    const seq = Array.from({ length: 1024 }, (_, i) => i);
    const shuffled = seq.map((i) => (i * 769) % 2048);
    for (const rows of [seq, shuffled]) {
      const out = await ds.read(rows, 0, 64, 2048);
      assertEquals(
        out,
        Uint32Array.from(rows.flatMap((r) => Array.from({ length: 64 }, (_, p) => manual(r, p)))),
      );
    }

    // Via the dispatcher, with .bin / .idx suffixes.
    for (const p of [FIXTURE, `${FIXTURE}.bin`, `${FIXTURE}.idx`]) {
      const src = await openRowSource(p);
      assertEquals(src.numRows, 2048);
      src.close();
    }
  } finally {
    ds.close();
  }
});

Deno.test("Megatron written by the test: varied lengths, short row, index past end, vocab, bad files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-data-" });
  try {
    const rows = [[1, 2, 3, 4, 5], [6, 7], [8, 9, 10, 11, 60000, 13], []];
    const prefix = join(dir, "ok");
    await writeMegatron(prefix, rows);
    const ds = await MegatronDataset.open(prefix);
    try {
      for (const [r, length] of [5, 2, 6, 0].entries()) await assertRowLength(ds, r, length);
      assertEquals(await ds.read([2, 0], 1, 2), Uint32Array.from([9, 10, 2, 3]));
      let e = await assertRejects(() => ds.read([0, 1], 0, 4), EngramError);
      assertMatch(e.message, /row 1 of .*ok\.bin has 2 tokens/);
      e = await assertRejects(() => ds.read([9], 0, 1), EngramError);
      assertMatch(e.message, /row 9 is past the end of .*ok\.bin \(4 rows\)/);
      e = await assertRejects(() => ds.read([2], 0, 6, 50304), EngramError);
      assertMatch(e.message, /row 2, position 4 of .*ok\.bin: token 60000 ≥ vocab size 50304/);
      assertEquals((await ds.read([2], 0, 6)).length, 6); // no vocab given: large ids pass
      assertEquals(await ds.read([0], 0, 1), Uint32Array.from([1])); // an error did not wedge the queue
    } finally {
      ds.close();
    }

    // More rows than one .idx chunk (65536): sizes and pointers are loaded per chunk.
    const many = Array.from(
      { length: 70000 },
      (_, i) => Array.from({ length: (i % 3) + 1 }, () => i % 60000),
    );
    await writeMegatron(join(dir, "many"), many);
    const big = await MegatronDataset.open(join(dir, "many"));
    for (const r of [65535, 65536, 69999]) await assertRowLength(big, r, (r % 3) + 1);
    assertEquals(await big.read([69999, 0, 65536, 65535], 0, 1), Uint32Array.from([9999, 0, 5536, 5535]));
    big.close();

    // int32 tokens with a negative id.
    await writeMegatron(join(dir, "i32"), [[3, -1, 4]], { code: 4, elemSize: 4 });
    const i32 = await MegatronDataset.open(join(dir, "i32"));
    assertEquals(i32.description.includes("int32"), true);
    const neg = await assertRejects(() => i32.read([0], 0, 3), EngramError);
    assertMatch(neg.message, /row 0, position 1 .*negative token id -1/);
    i32.close();

    const bad = async (name: string, opts: Parameters<typeof writeMegatron>[2], re: RegExp) => {
      await writeMegatron(join(dir, name), rows, opts);
      const err = await assertRejects(() => MegatronDataset.open(join(dir, name)), EngramError);
      assertMatch(err.message, re);
      assert(!err.message.includes("\n"), "one-line error");
    };
    await bad("magic", { magic: "NOTANIDX\0" }, /magic\.idx is not a Megatron .*bad magic/);
    await bad("v2", { version: 2 }, /v2\.idx: index version 2 is not supported/);
    await bad("float", { code: 6 }, /float\.idx: .*dtype other than integer/);
    await bad("float7", { code: 7 }, /dtype other than integer/);
    await bad("unknown", { code: 42 }, /unknown dtype code 42/);

    // .bin truncated: the last row no longer fits.
    await writeMegatron(join(dir, "cut"), rows);
    const full = await Deno.readFile(join(dir, "cut.bin"));
    await Deno.writeFile(join(dir, "cut.bin"), full.subarray(0, full.length - 4));
    let err = await assertRejects(() => MegatronDataset.open(join(dir, "cut")), EngramError);
    assertMatch(err.message, /cut\.bin is \d+ bytes but row 3 ends at byte \d+; the file is truncated/);
    // ...and lazily, for a row in the middle when the index lies about an earlier row.
    await writeMegatron(join(dir, "mid"), [[1, 2], [3, 4]]);
    const idx = await Deno.readFile(join(dir, "mid.idx"));
    new DataView(idx.buffer).setInt32(34, 50, true); // row 0 claims 50 tokens
    await Deno.writeFile(join(dir, "mid.idx"), idx);
    const mid = await MegatronDataset.open(join(dir, "mid"));
    err = await assertRejects(() => mid.read([1, 0], 0, 1), EngramError);
    assertMatch(err.message, /row 0 lies past the end of .*mid\.bin .*truncated/);
    mid.close();

    // .idx truncated, and missing files.
    await Deno.writeFile(join(dir, "short.idx"), idx.subarray(0, 40));
    err = await assertRejects(() => MegatronDataset.open(join(dir, "short")), EngramError);
    assertMatch(err.message, /short\.idx is 40 bytes but 2 rows need \d+; the index is truncated/);
    err = await assertRejects(() => openRowSource(join(dir, "nothing")), EngramError);
    assertMatch(err.message, /nothing\.idx not found; pass the prefix X of a Megatron dataset/);
    err = await assertRejects(() => openRowSource(join(dir, "t.jsonl")), EngramError);
    assertMatch(err.message, /openTextRows/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npy: int32 and uint16 rows; Fortran order, float dtype, 1-D and 3-D are errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-npy-" });
  try {
    const i32 = Int32Array.from({ length: 4 * 6 }, (_, i) => i * 1000);
    await writeNpy(join(dir, "a.npy"), "<i4", [4, 6], new Uint8Array(i32.buffer));
    const a = await openRowSource(join(dir, "a.npy"));
    assertEquals(a.numRows, 4);
    await assertRowLength(a, 3, 6);
    assertEquals(a.description, `${join(dir, "a.npy")} (npy, int32, 4×6)`);
    assertEquals(await a.read([3, 0], 2, 3), Uint32Array.from([20000, 21000, 22000, 2000, 3000, 4000]));
    const e = await assertRejects(() => a.read([1], 0, 6, 10000), EngramError);
    assertMatch(e.message, /row 1, position 4 of .*a\.npy: token 10000 ≥ vocab size 10000/);
    a.close();

    const u16 = Uint16Array.from({ length: 3 * 5 }, (_, i) => 65535 - i);
    await writeNpy(join(dir, "b.npy"), "<u2", [3, 5], new Uint8Array(u16.buffer));
    // The extension in any case, as the files rowSourceFiles fingerprints (it was opened as a Megatron prefix).
    await Deno.copyFile(join(dir, "b.npy"), join(dir, "B.NPY"));
    const upper = await openRowSource(join(dir, "B.NPY"));
    assertEquals(await upper.read([2], 0, 5), Uint32Array.from([65525, 65524, 65523, 65522, 65521]));
    upper.close();
    const b = await NpyRows.open(join(dir, "b.npy"));
    assertEquals(await b.read([2], 0, 5), Uint32Array.from([65525, 65524, 65523, 65522, 65521]));
    await assertRejects(() => b.read([3], 0, 1), EngramError, "row 3 is past the end");
    await assertRejects(() => b.read([0], 2, 4), EngramError, "row 0 of");
    b.close();

    const bad = async (name: string, descr: string, shape: number[], re: RegExp, fortran = false) => {
      const n = shape.reduce((x, y) => x * y, 1);
      await writeNpy(join(dir, name), descr, shape, new Uint8Array(n * 4), fortran);
      const err = await assertRejects(() => NpyRows.open(join(dir, name)), EngramError);
      assertMatch(err.message, re);
    };
    await bad("f.npy", "<i4", [2, 2], /f\.npy is stored in Fortran order/, true);
    await bad("float.npy", "<f4", [2, 2], /dtype '<f4' is not a little-endian integer type/);
    await bad("big.npy", ">i4", [2, 2], /dtype '>i4' is not a little-endian integer/);
    await bad("one.npy", "<i4", [8], /shape \(8\) is 1-D; expected a 2-D/);
    await bad("three.npy", "<i4", [2, 2, 2], /shape \(2, 2, 2\) is 3-D/);
    await writeNpy(join(dir, "cut.npy"), "<i4", [4, 6], new Uint8Array(10));
    const cut = await assertRejects(() => NpyRows.open(join(dir, "cut.npy")), EngramError);
    assertMatch(cut.message, /cut\.npy is \d+ bytes but shape \(4, 6\) needs \d+; truncated/);
    await Deno.writeFile(join(dir, "junk.npy"), new TextEncoder().encode("not numpy at all"));
    await assertRejects(() => NpyRows.open(join(dir, "junk.npy")), EngramError, "not a .npy file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MemoryRows: reads and the same errors", async () => {
  const m = new MemoryRows([[1, 2, 3], Uint32Array.from([4, 5, 6, 7])], "mem");
  assertEquals(m.numRows, 2);
  await assertRowLength(m, 1, 4);
  assertEquals(await m.read([1, 0], 1, 2), Uint32Array.from([5, 6, 2, 3]));
  await assertRejects(() => m.read([0], 0, 4), EngramError, "row 0 of mem has 3 tokens");
  await assertRejects(() => m.read([2], 0, 1), EngramError, "row 2 is past the end of mem (2 rows)");
  await assertRejects(
    () => m.read([1], 0, 4, 7),
    EngramError,
    "row 1, position 3 of mem: token 7 ≥ vocab size 7",
  );
});

Deno.test("rowSourceFiles: the files fingerprinted for a data path (.jsonl and .npy in any case, else Megatron)", () => {
  assertEquals(rowSourceFiles("d/texts.JSONL"), ["d/texts.JSONL"]);
  assertEquals(rowSourceFiles("d/rows.npy"), ["d/rows.npy"]);
  assertEquals(rowSourceFiles("d/doc.bin"), ["d/doc.idx", "d/doc.bin"]);
  assertEquals(rowSourceFiles("d/doc"), ["d/doc.idx", "d/doc.bin"]);
});
