// The scoring floor (scoring/): a checkpoint scored through scoreCheckpoint, no argv, gives the score command's
// results and the HF reference's; the job keeps, refuses and replaces a results file as score does; the longest
// continuation score accepts is the longest the report reads. That rows go downward only (engine/ and io/ never
// import scoring/) is tests/layers_test.ts's, with every other layer.
import { ColumnStore } from "../analysis/columns.ts";
import { scoreCommand } from "../cli/score.ts";
import { EngramError } from "../base/errors.ts";
import { Gpu } from "../engine/gpu.ts";
import { MAX_CONTINUATION } from "../engine/paper.ts";
import { readResults } from "../io/results.ts";
import { scoreCheckpoint } from "../scoring/job.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { PICO_DATA, PICO_MODELS, picoReference, withTempDir } from "./helpers.ts";

const gpu = await Gpu.open();
const ROWS = 96;
const CHECKPOINT = `${PICO_MODELS}/pico-2/step1092`;

Deno.test("scoreCheckpoint, no argv: the score command's results file and the HF reference's scores", async () => {
  await withTempDir(async (dir) => {
    const api = `${dir}/api/pico-2@step1092.parquet`;
    const summary = await scoreCheckpoint({
      checkpoint: CHECKPOINT,
      data: PICO_DATA,
      start: 8,
      count: ROWS,
      out: api,
      gpu,
    });
    await scoreCommand(
      [
        "--model",
        CHECKPOINT,
        "--data",
        PICO_DATA,
        "--start",
        "8",
        "--count",
        String(ROWS),
        "--out",
        `${dir}/cli`,
      ],
      gpu,
    );
    const fromApi = await readResults(api);
    const fromCli = await readResults(`${dir}/cli/pico-2@step1092.parquet`);
    assertEquals(fromApi.table, fromCli.table);
    // The provenance too, but when each job started.
    assertEquals({ ...fromApi.provenance, created: "" }, { ...fromCli.provenance, created: "" });
    assertEquals(fromApi.provenance?.start, 8);
    assertEquals(fromApi.provenance?.count, ROWS);

    const reference = (await picoReference()).get("pico-2@step1092")!;
    let memorized = 0, compared = 0;
    for (let i = 0; i < ROWS; i++) {
      const row = 8 + i, ref = reference[row];
      assertEquals(fromApi.table.index[i], row);
      if (fromApi.table.firstMismatch[i] === 32) memorized++;
      if (ref.margin < 1e-3) continue; // a near-tie the reference's arithmetic may break the other way
      compared++;
      assertEquals(fromApi.table.matches![i] / 32, ref.score, `row ${row}: score`);
      assertEquals(fromApi.table.firstMismatch[i], ref.firstMismatch, `row ${row}: first mismatch`);
    }
    assert(compared > ROWS * 0.9, `${compared} of ${ROWS} rows compared with the reference`);
    assertEquals(summary, {
      checkpoint: { model: "pico-2", revision: "step1092", dir: summary.checkpoint.dir },
      path: api,
      rows: ROWS,
      memorized,
      seconds: summary.seconds,
      skipped: false,
    });
  });
});

Deno.test("scoreCheckpoint keeps a file that answers the job, refuses one that does not, and force replaces it", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/scores.csv`;
    const job = { checkpoint: CHECKPOINT, data: PICO_DATA, count: 16, out, gpu };
    assertEquals((await scoreCheckpoint(job)).skipped, false);
    const written = await Deno.readTextFile(out);
    const logged: string[] = [];
    const kept = await scoreCheckpoint({ ...job, log: (line) => logged.push(line) });
    assertEquals([kept.skipped, kept.memorized], [true, -1]);
    assertEquals(logged, [`pico-2@step1092: ${out} holds these results already, skipped (--force rescores)`]);
    assertEquals(await Deno.readTextFile(out), written);

    const other = { ...job, count: 24 };
    const e = await assertRejects(() => scoreCheckpoint(other), EngramError);
    assert(e.message.includes("rows [0, 16)") && e.message.includes("rows [0, 24)"), e.message);
    assertEquals(await Deno.readTextFile(out), written, "a refused job leaves the file as it was");
    assertEquals((await scoreCheckpoint({ ...other, force: true })).rows, 24);
    assertEquals((await readResults(out)).table.index.length, 24);
  });
});

Deno.test(`the longest continuation score accepts (${MAX_CONTINUATION}) is the longest the report reads`, async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/long.parquet`;
    const e = await assertRejects(
      () =>
        scoreCheckpoint({ checkpoint: CHECKPOINT, data: PICO_DATA, count: 1, continuation: 254, out, gpu }),
      EngramError,
    );
    assertEquals(
      e.message,
      "--continuation 254 is longer than the report reads (at most 253 tokens); pass --continuation 253 or less",
    );
    assertEquals([...Deno.readDirSync(dir)].length, 0, "nothing written");
  });
  // The report's column store takes a source of MAX_CONTINUATION tokens and refuses one more.
  const store = new ColumnStore();
  store.source("longest@step1", false, MAX_CONTINUATION);
  assert(MAX_CONTINUATION === 253, "the report's bytes hold 0..253 beside two markers");
  try {
    store.source("longer@step1", false, MAX_CONTINUATION + 1);
    throw new Error("the report took a continuation longer than MAX_CONTINUATION");
  } catch (e) {
    assert(e instanceof EngramError && e.message.includes(`${MAX_CONTINUATION} tokens`), String(e));
  }
});

Deno.test("scoreCheckpoint refuses rows and settings no job can have, writing nothing", async () => {
  await withTempDir(async (dir) => {
    const job = { checkpoint: CHECKPOINT, data: PICO_DATA, out: `${dir}/x.parquet`, gpu };
    for (
      const [bad, says] of [
        [{ shard: [2, 2] as [number, number] }, "--shard must be i/N with 0 ≤ i < N (e.g. 3/64), got 2/2"],
        [{ start: -1 }, "--start must be an integer ≥ 0, got -1"],
        [{ count: 0 }, "--count must be an integer ≥ 1, got 0"],
        [{ prompt: 1.5 }, "--prompt must be an integer ≥ 1, got 1.5"],
        [{ mode: "greedy" as "score" }, '--mode must be score or extractable, got "greedy"'],
        [
          { out: `${dir}/x.txt` },
          `${dir}/x.txt: a results file's name ends in .parquet, .csv or .jsonl; rename it`,
        ],
      ] as const
    ) {
      const e = await assertRejects(() => scoreCheckpoint({ ...job, ...bad }), EngramError);
      assertEquals(e.message, says);
    }
    assertEquals([...Deno.readDirSync(dir)].length, 0, "nothing written");
  });
});
