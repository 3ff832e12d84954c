// GPU-machine check (bare Deno, no npm): pico-1..3 × 4 revisions on the embedded rows against the HF fp32
// reference, extractable vs score agreement, and batch-size independence. Prints one JSON line per checkpoint.
//   deno run --no-npm -A bench/check_reference.ts [rows]
import { MegatronDataset } from "../io/rows.ts";
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { compareContinuation } from "../scoring/memorization.ts";
import { Decoder } from "../engine/decoder.ts";
import { PICO_DATA, PICO_MODELS, picoPath } from "../io/pico.ts";
import { picoReference } from "../tests/pico_reference.ts";

const rows = Number(Deno.args[0] ?? 2048);
const gpu = await Gpu.open();
const data = await MegatronDataset.open(picoPath(PICO_DATA));
const tokens = await data.read(Array.from({ length: rows }, (_, i) => i), 0, 64);
const reference = await picoReference();
console.log(JSON.stringify({ adapter: gpu.describe(), rows }));
for (const name of ["pico-1", "pico-2", "pico-3"]) {
  for (const rev of ["step273", "step546", "step819", "step1092"]) {
    const ref = reference.get(`${name}@${rev}`)!;
    const model = await NeoXModel.load(gpu, picoPath(`${PICO_MODELS}/${name}/${rev}`));
    const result = {
      checkpoint: `${name}@${rev}`,
      compared: 0,
      score_mismatch: 0,
      extract_vs_score: 0,
      batch_dependent: 0,
    };
    const firsts: Int16Array[] = [];
    for (const batch of [rows, 64]) {
      const decoder = await Decoder.create(model, { batch, prompt: 32, cont: 32 });
      const first = new Int16Array(rows);
      for (let b0 = 0; b0 < rows; b0 += decoder.batch) {
        const n = Math.min(decoder.batch, rows - b0);
        const part = tokens.subarray(b0 * 64, (b0 + n) * 64);
        const pred = await decoder.greedy(part, n);
        const tf = await decoder.firstMismatch(part, n, { suppress: null, logprob: false });
        for (let i = 0; i < n; i++) {
          const r = compareContinuation(pred, i * 32, part, i * 64 + 32, 32);
          first[b0 + i] = r.firstMismatch;
          if (tf.firstMismatch[i] !== r.firstMismatch) result.extract_vs_score++;
          if (batch === rows && ref[b0 + i].margin >= 1e-3) {
            result.compared++;
            if (r.matches / 32 !== ref[b0 + i].score) result.score_mismatch++;
          }
        }
      }
      firsts.push(first);
      decoder.destroy();
    }
    result.batch_dependent = firsts[0].filter((f, i) => f !== firsts[1][i]).length;
    console.log(JSON.stringify(result));
    model.destroy();
  }
}
data.close();
gpu.destroy();
