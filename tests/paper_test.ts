// --paper-compatible: EleutherAI's scoring called HF generate(min_length=64), which forbids the end-of-text token
// (id 0) at every generated position. The engine forbids one token id: checked on 1024 rows with the token pico-1's
// greedy continuations emit most, and with EOS itself on the one row of the first 2048 where pico-1@step1092's pure
// greedy continuation contains id 0, through the decoder and the command line.
import { MegatronDataset } from "../io/rows.ts";
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { compareContinuation } from "../scoring/memorization.ts";
import { Decoder } from "../engine/decoder.ts";
import { assert, assertEquals } from "./assert.ts";
import { PICO_DATA, PICO_MODELS } from "./helpers.ts";

Deno.test("a forbidden token (EOS under --paper-compatible) is never emitted; the best other token is taken instead", async () => {
  const gpu = await Gpu.open();
  const model = await NeoXModel.load(gpu, `${PICO_MODELS}/pico-1/step1092`);
  const data = await MegatronDataset.open(PICO_DATA);
  const rows = 1024;
  const tokens = await data.read(Array.from({ length: rows }, (_, i) => i), 0, 64);
  data.close();
  const decoder = await Decoder.create(model, { batch: 256, prompt: 32, cont: 32 });
  const pure = new Uint32Array(rows * 32), paper = new Uint32Array(rows * 32), first = new Int16Array(rows);
  for (let b = 0; b < rows; b += 256) {
    pure.set(await decoder.greedy(tokens.subarray(b * 64, (b + 256) * 64), 256), b * 32);
  }
  const counts = new Map<number, number>();
  for (const t of pure) counts.set(t, (counts.get(t) ?? 0) + 1);
  const banned = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  for (let b = 0; b < rows; b += 256) {
    const part = tokens.subarray(b * 64, (b + 256) * 64);
    paper.set(await decoder.greedy(part, 256, banned), b * 32);
    first.set(
      (await decoder.firstMismatch(part, 256, { suppress: banned, logprob: false })).firstMismatch,
      b,
    );
  }
  decoder.destroy();
  const forbiddenAt: { row: number; at: number }[] = [];
  for (let r = 0; r < rows; r++) {
    const at = pure.subarray(r * 32, r * 32 + 32).indexOf(banned);
    assert(
      !paper.subarray(r * 32, r * 32 + 32).includes(banned),
      `row ${r}: the forbidden token was emitted`,
    );
    if (at < 0) {
      assertEquals(
        [...paper.subarray(r * 32, r * 32 + 32)],
        [...pure.subarray(r * 32, r * 32 + 32)],
        `row ${r}`,
      );
      continue;
    }
    assertEquals(
      [...paper.subarray(r * 32, r * 32 + at)],
      [...pure.subarray(r * 32, r * 32 + at)],
      `row ${r}`,
    );
    forbiddenAt.push({ row: r, at });
  }
  assert(forbiddenAt.length >= 8, `only ${forbiddenAt.length} rows where pure greedy emits token ${banned}`);
  // Where pure greedy chose the forbidden token, the argmax of the other logits at the same prefix is taken.
  for (const { row, at } of forbiddenAt.slice(0, 8)) {
    const n = 32 + at;
    const seq = new Uint32Array(n);
    seq.set(tokens.subarray(row * 64, row * 64 + 32));
    seq.set(pure.subarray(row * 32, row * 32 + at), 32);
    const s = await Decoder.create(model, { batch: 1, prompt: n, cont: 0, logits: true });
    const logits = await s.logits(seq, 1, n);
    s.destroy();
    const last = logits.subarray((n - 1) * 2048, n * 2048);
    let best = banned === 0 ? 1 : 0;
    for (let v = best + 1; v < 2048; v++) if (v !== banned && last[v] > last[best]) best = v;
    assertEquals(last.indexOf(Math.max(...last)), banned, `row ${row}: the forbidden token was the argmax`);
    assertEquals(paper[row * 32 + at], best, `row ${row}, position ${at}`);
  }
  // Early exit with the token forbidden finds the forbidding greedy decoder's first mismatch.
  for (let r = 0; r < rows; r++) {
    const expected = compareContinuation(paper, r * 32, tokens, r * 64 + 32, 32).firstMismatch;
    assertEquals(first[r], expected, `row ${r}: extractable --paper-compatible`);
  }
  model.destroy();
  gpu.destroy();
});

/** pico-1@step1092's pure greedy continuation of row 303 emits EOS (id 0) at position 1, as the true continuation
 * has it; the next best token there (id 10) trails by 0.94 logits, so no adapter's rounding can swap them. */
const EOS_MODEL = `${PICO_MODELS}/pico-1/step1092`;
const EOS_ROW = 303;
const EOS_AT = 1;

/** The best token other than id 0 at each row of `logits` (vocab 2048), by a plain scan, ties to the lowest id. */
function argmaxWithout0(logits: Float32Array, at: number): number {
  let best = 1;
  for (let v = 2; v < 2048; v++) if (logits[at * 2048 + v] > logits[at * 2048 + best]) best = v;
  return best;
}

Deno.test("EOS: where pure greedy emits id 0, --paper-compatible takes the next-best token and never emits 0", async () => {
  const gpu = await Gpu.open();
  const model = await NeoXModel.load(gpu, EOS_MODEL);
  const data = await MegatronDataset.open(PICO_DATA);
  const row = await data.read([EOS_ROW], 0, 64);
  data.close();
  const decoder = await Decoder.create(model, { batch: 1, prompt: 32, cont: 32 });
  const pure = await decoder.greedy(row, 1);
  const paper = await decoder.greedy(row, 1, 0);
  const firstPure =
    (await decoder.firstMismatch(row, 1, { suppress: null, logprob: false })).firstMismatch[0];
  const firstPaper = (await decoder.firstMismatch(row, 1, { suppress: 0, logprob: false })).firstMismatch[0];
  decoder.destroy();
  assertEquals(row[32 + EOS_AT], 0, "the true continuation has EOS there");
  assertEquals(pure[EOS_AT], 0, "pure greedy emits EOS");
  assertEquals(paper.indexOf(0), -1, `--paper-compatible emitted id 0: ${paper}`);
  assertEquals([...paper.subarray(0, EOS_AT)], [...pure.subarray(0, EOS_AT)], "the same tokens before EOS");
  // Every token of the paper's continuation is the best non-EOS token given its own prefix: one forward pass over
  // prompt + paper continuation gives the logits at every position.
  const seq = new Uint32Array(63);
  seq.set(row.subarray(0, 32));
  seq.set(paper.subarray(0, 31), 32);
  const s = await Decoder.create(model, { batch: 1, prompt: 63, cont: 0, logits: true });
  const logits = await s.logits(seq, 1, 63);
  s.destroy();
  let argmaxAtEos = 0;
  for (let v = 1; v < 2048; v++) {
    if (logits[(31 + EOS_AT) * 2048 + v] > logits[(31 + EOS_AT) * 2048 + argmaxAtEos]) argmaxAtEos = v;
  }
  assertEquals(argmaxAtEos, 0, "EOS is the argmax where pure greedy emitted it");
  for (let j = 0; j < 32; j++) assertEquals(paper[j], argmaxWithout0(logits, 31 + j), `position ${j}`);
  // Early exit: pure greedy first departs from the truth after EOS; the paper's pipeline at EOS itself.
  const expectedPure = compareContinuation(pure, 0, row, 32, 32).firstMismatch;
  assert(expectedPure > EOS_AT, `pure greedy matches through EOS (first mismatch ${expectedPure})`);
  assertEquals(firstPure, expectedPure, "extractable, pure greedy");
  assertEquals(firstPaper, EOS_AT, "extractable, --paper-compatible");
  model.destroy();
  gpu.destroy();
});

Deno.test("--paper-compatible on the command line: EOS forbidden in both modes, and said in the provenance", async () => {
  const { runCli, picoReference } = await import("./helpers.ts");
  const { readResults } = await import("../io/results.ts");
  const reference = (await picoReference()).get("pico-1@step1092")![EOS_ROW];
  const out = await Deno.makeTempDir();
  try {
    for (const mode of ["score", "extractable"]) {
      for (const paper of [false, true]) {
        const dir = `${out}/${mode}-${paper}`;
        const r = await runCli([
          "score",
          ...["--model", EOS_MODEL, "--start", String(EOS_ROW), "--count", "1", "--mode", mode],
          ...["--out", dir, "--format", "jsonl", "--quiet", ...(paper ? ["--paper-compatible"] : [])],
        ]);
        assertEquals(r.code, 0, r.stderr);
        const { table, provenance } = await readResults(`${dir}/pico-1@step1092.jsonl`);
        assertEquals(provenance!.paper_compatible, paper);
        // Pure greedy agrees with the HF reference (which emitted EOS); the paper's pipeline cannot match EOS.
        const what = `${mode}${paper ? " --paper-compatible" : ""}`;
        assertEquals(
          table.firstMismatch[0],
          paper ? EOS_AT : reference.firstMismatch,
          `${what}: first mismatch`,
        );
        if (mode === "score" && !paper) {
          assertEquals(table.matches![0] / 32, reference.score, `${what}: score`);
        }
      }
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
