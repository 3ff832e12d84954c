/**
 * Memorization scoring of training rows (Biderman et al. 2023): prompt = tokens [offset, offset + prompt) of a
 * row, true continuation = the next `cont` tokens; the model's greedy continuation is compared position by
 * position. Score = matches / cont; memorized (cont-extractable) = all match.
 */
import type { RowSource } from "./data.ts";
import type { Journal, ScoreColumns } from "./journal.ts";
import type { Scorer } from "./scorer.ts";

export type ScoreMode = "score" | "extractable";

export interface ScoreJob {
  source: RowSource;
  /** Rows [start, start + count) of the source. */
  start: number;
  count: number;
  offset: number;
  mode: ScoreMode;
  /** EleutherAI's pipeline (HF generate with min_length = 64) never emits EOS: its id, or null. */
  suppress: number | null;
  logprob: boolean;
}

export interface ScoreProgress {
  done: number;
  total: number;
  memorized: number;
  /** Rows scored in this process (excludes rows resumed from the journal), and the seconds they took. */
  fresh: number;
  seconds: number;
}

/** Number of leading equal tokens and total equal tokens of `pred` vs the true continuation. */
export function compareContinuation(
  pred: ArrayLike<number>,
  predAt: number,
  truth: ArrayLike<number>,
  truthAt: number,
  cont: number,
): { matches: number; firstMismatch: number } {
  let matches = 0;
  let firstMismatch = cont;
  for (let j = 0; j < cont; j++) {
    if (pred[predAt + j] === truth[truthAt + j]) matches++;
    else if (firstMismatch === cont) firstMismatch = j;
  }
  return { matches, firstMismatch };
}

/**
 * Scores the job's rows not yet in `journal`, a batch at a time, appending each batch's results to the journal
 * before starting the next (so a kill loses at most the batch in flight).
 */
export async function scoreRows(
  scorer: Scorer,
  job: ScoreJob,
  journal: Journal,
  onProgress?: (p: ScoreProgress) => void,
): Promise<void> {
  const { prompt, cont, batch } = scorer;
  const seqLen = prompt + cont;
  const vocab = scorer.model.cfg.vocabSize;
  const previous = await journal.readAll();
  let memorized = previous.firstMismatch.filter((f) => f === cont).length;
  const t0 = performance.now();
  const cols: ScoreColumns = {
    index: new Float64Array(batch),
    matches: new Int16Array(batch),
    firstMismatch: new Int16Array(batch),
    logprob: new Float32Array(batch),
  };
  const firstDone = journal.done;
  while (journal.done < job.count) {
    const n = Math.min(batch, job.count - journal.done);
    const rows = Array.from({ length: n }, (_, i) => job.start + journal.done + i);
    const tokens = await job.source.read(rows, job.offset, seqLen, vocab);
    cols.index.set(rows);
    cols.logprob.fill(NaN);
    if (job.mode === "score") {
      const pred = await scorer.greedy(tokens, n, job.suppress);
      for (let i = 0; i < n; i++) {
        const r = compareContinuation(pred, i * cont, tokens, i * seqLen + prompt, cont);
        cols.matches[i] = r.matches;
        cols.firstMismatch[i] = r.firstMismatch;
      }
    }
    if (job.mode === "extractable" || job.logprob) {
      const tf = await scorer.firstMismatch(tokens, n, { suppress: job.suppress, logprob: job.logprob });
      if (job.mode === "extractable") {
        cols.matches.fill(-1);
        cols.firstMismatch.set(tf.firstMismatch);
      }
      if (tf.logprob) cols.logprob.set(tf.logprob);
    }
    for (let i = 0; i < n; i++) if (cols.firstMismatch[i] === cont) memorized++;
    await journal.append(cols, n);
    onProgress?.({
      done: journal.done,
      total: job.count,
      memorized,
      fresh: journal.done - firstDone,
      seconds: (performance.now() - t0) / 1000,
    });
  }
}
