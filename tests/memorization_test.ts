// scoreRows overlaps host and GPU: while a batch computes, the next batch's rows are read and the previous
// batch's results are appended. The sink contract still holds: one append at a time, batches in order, every
// row once, and the same results as scoring each batch on its own. A scoring error is the one thrown, even when
// the append in flight fails after it.
import { MegatronDataset, type RowSource } from "../io/rows.ts";
import { Decoder } from "../engine/decoder.ts";
import { Gpu } from "../engine/gpu.ts";
import type { ScoreColumns } from "../scoring/memorization.ts";
import { compareContinuation, scoreRows, type ScoreSink } from "../scoring/memorization.ts";
import { NeoXModel } from "../engine/model.ts";
import { assert, assertEquals } from "./assert.ts";
import { PICO_DATA, PICO_MODELS } from "./helpers.ts";

const BATCH = 8, BATCHES = 5;

Deno.test("scoreRows reads the next batch while the last one is appended; appends stay one at a time, in order", async () => {
  const gpu = await Gpu.open();
  const model = await NeoXModel.load(gpu, `${PICO_MODELS}/pico-1/step1092`);
  const decoder = await Decoder.create(model, { batch: BATCH, prompt: 32, cont: 32 });
  const data = await MegatronDataset.open(PICO_DATA);
  const log: string[] = [];
  const source: RowSource = {
    description: data.description,
    numRows: data.numRows,
    read: (rows, offset, length, vocab) => {
      log.push(`read ${rows[0] / BATCH}`);
      return data.read(rows, offset, length, vocab);
    },
    close: () => data.close(),
  };
  let inFlight = 0;
  const firstMismatch: number[] = [], index: number[] = [];
  const sink: ScoreSink = {
    done: 0,
    memorized: () => Promise.resolve(0),
    async append(cols: ScoreColumns, n: number) {
      const batch = cols.index[0] / BATCH;
      log.push(`append ${batch}`);
      assertEquals(++inFlight, 1, "appends overlap");
      // A slow disk: the next batch is scored and read meanwhile.
      await new Promise((r) => setTimeout(r, 50));
      index.push(...cols.index.subarray(0, n));
      firstMismatch.push(...cols.firstMismatch.subarray(0, n));
      (this as { done: number }).done += n;
      log.push(`appended ${batch}`);
      inFlight--;
    },
  };
  try {
    const job = {
      source,
      start: 0,
      count: BATCH * BATCHES,
      offset: 0,
      mode: "score" as const,
      suppress: null,
      logprob: false,
    };
    await scoreRows(decoder, job, sink);
    assertEquals(index, Array.from({ length: BATCH * BATCHES }, (_, i) => i), "every row once, in order");
    // Batch b + 2 is read before batch b's append has finished: reading and appending overlap the GPU's work.
    for (let b = 0; b + 2 < BATCHES; b++) {
      assert(log.indexOf(`read ${b + 2}`) < log.indexOf(`appended ${b}`), log.join(", "));
    }
    for (let b = 1; b < BATCHES; b++) {
      assert(log.indexOf(`appended ${b - 1}`) < log.indexOf(`append ${b}`), log.join(", "));
    }
    // The same results as scoring the rows in one batch, without the pipeline.
    const tokens = await data.read(index, 0, 64);
    const whole = await Decoder.create(model, { batch: BATCH * BATCHES, prompt: 32, cont: 32 });
    const pred = await whole.greedy(tokens, BATCH * BATCHES);
    whole.destroy();
    const want = index.map((_, r) =>
      compareContinuation(pred, r * 32, tokens, r * 64 + 32, 32).firstMismatch
    );
    assertEquals(firstMismatch, want);
  } finally {
    data.close();
    decoder.destroy();
    model.destroy();
    gpu.destroy();
  }
});

Deno.test("a scoring error is what scoreRows throws, even when the append in flight then fails too", async () => {
  const gpu = await Gpu.open();
  const model = await NeoXModel.load(gpu, `${PICO_MODELS}/pico-1/step1092`);
  const decoder = await Decoder.create(model, { batch: BATCH, prompt: 32, cont: 32 });
  const data = await MegatronDataset.open(PICO_DATA);
  const job = {
    start: 0,
    count: 2 * BATCH,
    offset: 0,
    mode: "score" as const,
    suppress: null,
    logprob: false,
  };
  // The second batch's rows cannot be read; the first batch's append fails later, while that error is thrown.
  const source: RowSource = {
    description: data.description,
    numRows: data.numRows,
    read: (rows, offset, length, vocab) =>
      rows[0] < BATCH ? data.read(rows, offset, length, vocab) : Promise.reject(new Error("read failed")),
    close: () => {},
  };
  const sink = (fails: boolean): ScoreSink => ({
    done: 0,
    memorized: () => Promise.resolve(0),
    append: () =>
      new Promise((resolve, reject) =>
        setTimeout(() => (fails ? reject(new Error("append failed")) : resolve()), 100)
      ),
  });
  const failure = async (run: Promise<void>) => {
    try {
      await run;
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  try {
    assertEquals(await failure(scoreRows(decoder, { ...job, source }, sink(true))), "read failed");
    // Without a scoring error, the append's is thrown.
    assertEquals(await failure(scoreRows(decoder, { ...job, source: data }, sink(true))), "append failed");
  } finally {
    data.close();
    decoder.destroy();
    model.destroy();
    gpu.destroy();
  }
});
