// Memorization scoring of training rows (Biderman et al. 2023): prompt = tokens [offset, offset + prompt) of a
// row, true continuation = the next `cont` tokens; the model's greedy continuation is compared position by
// position. Score = matches / cont; memorized (cont-extractable) = all match.
import type { RowSource } from "../io/rows.ts";
import { type Decoder, NonFiniteLogits } from "../engine/decoder.ts";

/**
 * "score" decodes greedily and records matches and first mismatch; "extractable" finds only the first mismatch
 * (teacher-forced, with early exit) and records no matches.
 */
export type ScoreMode = "score" | "extractable";

/** The rows to score and how (see `scoreRows`). */
export interface ScoreJob {
  /** Where the token rows come from. */
  source: RowSource;
  /** Rows [start, start + count) of the source. */
  start: number;
  /** How many rows to score. */
  count: number;
  /** The token of each row where the prompt starts. */
  offset: number;
  /** Greedy decoding or first mismatch only. */
  mode: ScoreMode;
  /** EleutherAI's pipeline (HF generate with min_length = 64) never emits EOS: its id, or null. */
  suppress: number | null;
  /** Also record the mean log-probability of the true continuation (teacher-forced). */
  logprob: boolean;
}

/** Where a scoring run stands, reported after each batch reaches the sink. */
export interface ScoreProgress {
  /** Rows recorded in the sink, resumed ones included. */
  done: number;
  /** Rows of the job. */
  total: number;
  /** How many of the `done` rows are memorized. */
  memorized: number;
  /** Rows scored in this process (excludes rows resumed from the journal), and the seconds they took. */
  fresh: number;
  /** Seconds the `fresh` rows took (since this process started scoring). */
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

/** A batch of scored rows as typed columns, one entry per row (only the first `n` may be filled). */
export interface ScoreColumns {
  /** The row's index in the data. */
  index: Float64Array;
  /** Positions where the greedy continuation equals the truth; -1: not computed (extractable mode). */
  matches: Int16Array;
  /** The first position where it differs (= continuation when none does). */
  firstMismatch: Int16Array;
  /** Mean log-probability of the true continuation; NaN: not computed. */
  logprob: Float32Array;
}

/** Where scored rows go: the resumable journal (scoring/journal.ts) in `score`, memory in `bench`. */
export interface ScoreSink {
  /** Rows already recorded: scoring resumes with row `job.start + done`. */
  readonly done: number;
  /** How many of the recorded rows are memorized (first mismatch = `cont`), for progress. */
  memorized(cont: number): Promise<number>;
  /** Records rows [0, n) of `cols` before the next batch starts (the journal flushes them to disk). */
  append(cols: ScoreColumns, n: number): Promise<void>;
}

/**
 * Scores the job's rows not yet in `sink`, a batch at a time. The host works while the GPU computes: once a
 * batch is submitted, the next batch's rows are read and the previous batch's results appended to the sink.
 * Each batch is appended only after the one before it, so with the journal a kill loses at most the batches in
 * flight (the one computing and the one being written). The next batch's token upload is left to the decoder:
 * its passes read the token buffer until they finish, and the upload is a few hundred kilobytes.
 */
export async function scoreRows(
  decoder: Decoder,
  job: ScoreJob,
  sink: ScoreSink,
  onProgress?: (p: ScoreProgress) => void,
): Promise<void> {
  const { prompt, batch } = decoder;
  const seqLen = prompt + decoder.cont;
  const vocab = decoder.model.cfg.vocabSize;
  let memorized = await sink.memorized(decoder.cont);
  const t0 = performance.now();
  const firstDone = sink.done;
  // Two sets of columns: one filled by the batch on the GPU while the other is being appended.
  const columns = (): ScoreColumns => ({
    index: new Float64Array(batch),
    matches: new Int16Array(batch),
    firstMismatch: new Int16Array(batch),
    logprob: new Float32Array(batch),
  });
  const spare = [columns(), columns()];
  let next = firstDone;
  const readNext = () => {
    const n = Math.min(batch, job.count - next);
    if (n <= 0) return null;
    const rows = Array.from({ length: n }, (_, i) => job.start + next + i);
    next += n;
    const tokens = job.source.read(rows, job.offset, seqLen, vocab);
    tokens.catch(() => {}); // awaited below; not an unhandled rejection if scoring fails first
    return { rows, tokens };
  };
  let pending = readNext();
  let appending: Promise<void> = Promise.resolve();
  try {
    for (let b = 0; pending; b++) {
      const { rows, tokens: reading } = pending;
      const tokens = await reading;
      const cols = spare[b % 2];
      const scoring = scoreBatch(decoder, job, tokens, rows, cols); // submits the GPU work before it yields
      scoring.catch(() => {});
      pending = readNext();
      await scoring;
      await appending;
      for (let i = 0; i < rows.length; i++) if (cols.firstMismatch[i] === decoder.cont) memorized++;
      const done = memorized;
      appending = sink.append(cols, rows.length).then(() =>
        onProgress?.({
          done: sink.done,
          total: job.count,
          memorized: done,
          fresh: sink.done - firstDone,
          seconds: (performance.now() - t0) / 1000,
        })
      );
      appending.catch(() => {});
    }
  } catch (e) {
    // The append in flight is let finish (the sink is not left mid-write), but a failure of its own must not
    // replace the error that stopped the scoring.
    await appending.catch(() => {});
    throw e;
  }
  await appending;
}

/** One batch: the rows' results into `cols` (index, matches or -1, first mismatch, mean log-prob or NaN); logits
 *  that are not finite stop the run, naming the data row (NonFiniteLogits). */
async function scoreBatch(
  decoder: Decoder,
  job: ScoreJob,
  tokens: Uint32Array,
  rows: number[],
  cols: ScoreColumns,
): Promise<void> {
  try {
    await scoreBatchOn(decoder, job, tokens, rows, cols);
  } catch (e) {
    if (e instanceof NonFiniteLogits) throw e.naming((r) => `row ${rows[r]} of the data`);
    throw e;
  }
}

async function scoreBatchOn(
  decoder: Decoder,
  job: ScoreJob,
  tokens: Uint32Array,
  rows: number[],
  cols: ScoreColumns,
): Promise<void> {
  const { prompt, cont } = decoder;
  const seqLen = prompt + cont;
  const n = rows.length;
  cols.index.set(rows);
  cols.logprob.fill(NaN);
  if (job.mode === "score") {
    const pred = await decoder.greedy(tokens, n, job.suppress);
    for (let i = 0; i < n; i++) {
      const r = compareContinuation(pred, i * cont, tokens, i * seqLen + prompt, cont);
      cols.matches[i] = r.matches;
      cols.firstMismatch[i] = r.firstMismatch;
    }
  }
  if (job.mode === "extractable" || job.logprob) {
    const tf = await decoder.firstMismatch(tokens, n, { suppress: job.suppress, logprob: job.logprob });
    if (job.mode === "extractable") {
      cols.matches.fill(-1);
      cols.firstMismatch.set(tf.firstMismatch);
    }
    if (tf.logprob) cols.logprob.set(tf.logprob);
  }
}
