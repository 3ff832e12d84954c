// The pre-shuffled Pile as EleutherAI publishes it: document.idx beside document-00000-of-000NN.bin … (byte
// slices of the one document.bin; rows straddle them). Built here from the pico fixture's .bin, cut into slices
// of an odd size so that rows and even single uint16 tokens straddle the boundaries.
import { MegatronDataset, openRowSource, rowSourceFiles, rowSourcePath } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { Gpu } from "../engine/gpu.ts";
import { scoreCommand } from "../cli/score.ts";
import { rowSourceFingerprint, sampledFingerprint } from "../io/files.ts";
import { readResults } from "../io/results.ts";
import { computeReport } from "../analysis/report.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { expectError } from "./cli_contract.ts";
import { PICO_DATA, PICO_MODELS, withTempDir } from "./helpers.ts";

const SLICE = 300_001; // bytes: odd, so a token is cut in two at every boundary
const ROW_TOKENS = 257, ROWS = 2048;

/** Cuts the pico .bin into slices of `size` bytes as DIR/document-0000k-of-0000N.bin beside DIR/document.idx;
 *  returns the slices' paths. */
async function slice(dir: string, size = SLICE): Promise<string[]> {
  const bin = await Deno.readFile(`${PICO_DATA}.bin`);
  await Deno.copyFile(`${PICO_DATA}.idx`, join(dir, "document.idx"));
  const count = Math.ceil(bin.length / size), paths: string[] = [];
  for (let k = 0; k < count; k++) {
    const name = `document-${String(k).padStart(5, "0")}-of-${String(count - 1).padStart(5, "0")}.bin`;
    paths.push(join(dir, name));
    await Deno.writeFile(paths[k], bin.subarray(k * size, (k + 1) * size));
  }
  return paths;
}

async function allRows(path: string): Promise<Uint32Array> {
  const source = await openRowSource(path);
  try {
    assertEquals(source.numRows, ROWS);
    return await source.read(Array.from({ length: ROWS }, (_, i) => ROWS - 1 - i), 0, ROW_TOKENS);
  } finally {
    source.close();
  }
}

Deno.test("sliced .bin: read as the whole file, bit for bit, however the dataset is named", async () => {
  await withTempDir(async (dir) => {
    const slices = await slice(dir);
    assertEquals(slices.length, 4);
    const whole = await allRows(PICO_DATA);
    const prefix = join(dir, "document");
    // The prefix, the folder (a dataset snapshot), the first slice's name.
    for (const given of [prefix, dir, slices[0], `${prefix}.idx`]) {
      assertEquals(rowSourcePath(given), prefix, given);
      assertEquals(rowSourceFiles(given), [`${prefix}.idx`, ...slices], given);
      assertEquals(await allRows(given), whole, given);
    }
    // Rows that straddle a boundary, read alone (not within a larger grouped read).
    const ds = await MegatronDataset.open(prefix);
    const straddling = [Math.floor(SLICE / (2 * ROW_TOKENS)), Math.floor((2 * SLICE) / (2 * ROW_TOKENS))];
    for (const row of straddling) {
      const start = row * 2 * ROW_TOKENS;
      assert(start < SLICE * (row > 600 ? 2 : 1) && start + 2 * ROW_TOKENS > SLICE * (row > 600 ? 2 : 1));
      assertEquals(
        await ds.read([row], 5, 200),
        whole.subarray((ROWS - 1 - row) * ROW_TOKENS + 5, (ROWS - 1 - row) * ROW_TOKENS + 205),
      );
    }
    assertMatch(ds.description, /document \(Megatron, uint16, 2048 rows, \.bin in 4 slices\)$/);
    ds.close();
  });
});

Deno.test("sliced .bin: its data fingerprint is the whole file's; an edited slice changes it", async () => {
  await withTempDir(async (dir) => {
    const slices = await slice(dir);
    const whole = await rowSourceFingerprint(PICO_DATA);
    // As results recorded it before slices were read: the sampled fingerprint of the .idx and the .bin.
    assertEquals(whole, await sampledFingerprint([`${PICO_DATA}.idx`, `${PICO_DATA}.bin`]));
    assertEquals(await rowSourceFingerprint(join(dir, "document")), whole);
    assertEquals(await rowSourceFingerprint(dir), whole);
    const bytes = await Deno.readFile(slices[1]);
    bytes[0] ^= 1;
    await Deno.writeFile(slices[1], bytes);
    assert(await rowSourceFingerprint(dir) !== whole, "an edited slice changes the fingerprint");
  });
});

Deno.test("sliced .bin: a missing slice, a wrong size, too short for the last row, two sets: one line naming the slice; a whole .bin is preferred", async () => {
  await withTempDir(async (dir) => {
    const prefix = join(dir, "document");
    const refused = async (re: RegExp) => {
      const e = await assertRejects(() => MegatronDataset.open(prefix), EngramError);
      assertMatch(e.message, re);
      assert(!e.message.includes("\n"));
    };
    let slices = await slice(dir);
    await Deno.remove(slices[2]);
    await refused(/document-00002-of-00003\.bin not found: .*4 slices .*every one is needed/);

    slices = await slice(dir);
    await Deno.truncate(slices[1], SLICE - 2);
    await refused(/document-00001-of-00003\.bin is 299999 bytes but the first slice is 300001/);

    slices = await slice(dir);
    await Deno.truncate(slices[3], 1000);
    await refused(
      /document-00003-of-00003\.bin ends the slices of .*document\.bin at byte 901003 but row 2047 of/,
    );

    // A last slice larger than the others is no split of one file.
    slices = await slice(dir);
    await Deno.writeFile(slices[3], new Uint8Array(SLICE + 1));
    await refused(/document-00003-of-00003\.bin is 300002 bytes but the first slice is 300001/);

    // Slices of another split beside these.
    slices = await slice(dir);
    await Deno.writeFile(join(dir, "document-00000-of-00005.bin"), new Uint8Array(10));
    await refused(
      /slices of two sets are there \(document-00000-of-00003\.bin, document-00000-of-00005\.bin\)/,
    );
    await Deno.remove(join(dir, "document-00000-of-00005.bin"));

    // document.bin beside the slices is read, not the slices (here broken: one is missing).
    await Deno.remove(slices[1]);
    await Deno.copyFile(`${PICO_DATA}.bin`, `${prefix}.bin`);
    assertEquals(rowSourceFiles(dir), [`${prefix}.idx`, `${prefix}.bin`]);
    assertEquals(await allRows(dir), await allRows(PICO_DATA));

    // A folder with no .idx, or two.
    const empty = join(dir, "empty");
    await Deno.mkdir(empty);
    await assertRejects(() => openRowSource(empty), EngramError, "holding no Megatron index (.idx)");
    await Deno.writeFile(join(empty, "a.idx"), new Uint8Array(0));
    await Deno.writeFile(join(empty, "b.idx"), new Uint8Array(0));
    await assertRejects(() => openRowSource(empty), EngramError, "several Megatron indexes (a.idx, b.idx)");
  });
});

Deno.test("score on sliced data: the same results and fingerprint as on the whole file; provenance records the prefix; a missing slice writes nothing", async () => {
  const gpu = await Gpu.open();
  try {
    await withTempDir(async (dir) => {
      const data = join(dir, "pile");
      await Deno.mkdir(data);
      const slices = await slice(data);
      const model = `${PICO_MODELS}/pico-2/step1092`, rows = ["--start", "1000", "--count", "24"];
      const whole = join(dir, "whole.parquet"), sliced = join(dir, "sliced.parquet");
      await scoreCommand(["--model", model, "--data", PICO_DATA, ...rows, "--out", whole, "--quiet"], gpu);
      await scoreCommand(["--model", model, "--data", data, ...rows, "--out", sliced, "--quiet"], gpu);
      const a = await readResults(whole), b = await readResults(sliced);
      assertEquals(b.table, a.table);
      assertEquals(b.provenance!.data_fingerprint, a.provenance!.data_fingerprint);
      assertEquals(b.provenance!.data, join(data, "document"));

      // The report takes the slices as the data results scored on the whole file were scored on (the same
      // fingerprint), and finds the slices from the provenance of results scored on them.
      const tokenizer = `${PICO_MODELS}/../tokenizer`;
      const onWhole = await computeReport({ results: [whole], data, tokenizer });
      assertMatch(onWhole.report.samples_note!, new RegExp(`decoded from ${data}`));
      assert(onWhole.report.text_features !== null, "text features from the slices");
      const onSliced = await computeReport({ results: [sliced] });
      assertMatch(onSliced.report.samples_note!, new RegExp(`decoded from ${join(data, "document")}`));

      await Deno.remove(slices[3]);
      const out = join(dir, "out");
      await expectError(
        ["score", "--model", model, "--data", slices[0], ...rows, "--out", out, "--quiet"],
        ["document-00003-of-00003.bin not found"],
      );
      assert(!(await Deno.stat(out).catch(() => null)), "nothing written");
    });
  } finally {
    gpu.destroy();
  }
});
