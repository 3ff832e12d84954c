// The HF fp32 reference scores of the embedded pico suite (fixtures/pico/reference), which the tests and
// bench/check_reference.ts compare engram's scores with.
import { PICO_REFERENCE, picoPath } from "../io/pico.ts";

/** One row of the HF fp32 reference: score, first mismatch and the top-2 logit margin at the mismatch. */
export interface ReferenceRow {
  /** The memorization score: the fraction of continuation tokens matched. */
  score: number;
  /** The first continuation position whose greedy token differs (the continuation's length when none). */
  firstMismatch: number;
  /** The top-2 logit margin at the first mismatch. */
  margin: number;
}

/** fixtures/pico/reference: "model@revision" → rows by index. */
export async function picoReference(): Promise<Map<string, ReferenceRow[]>> {
  const text = await Deno.readTextFile(picoPath(PICO_REFERENCE));
  const out = new Map<string, ReferenceRow[]>();
  for (const line of text.trim().split("\n").slice(1)) {
    const [model, revision, index, score, first, margin] = line.split(",");
    const key = `${model}@${revision}`;
    if (!out.has(key)) out.set(key, []);
    out.get(key)![Number(index)] = {
      score: Number(score),
      firstMismatch: Number(first),
      margin: Number(margin),
    };
  }
  return out;
}
