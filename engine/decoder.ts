// Batched decoding on the GPU: greedy continuation (one submission and one readback per batch: argmax writes
// each next token straight into the next step's input), teacher-forced extractability with early exit, and
// full logits for checks against reference implementations.
import { EngramError } from "../base/errors.ts";
import { Recorder } from "./gpu.ts";
import {
  encodeFinalNorm,
  encodeForward,
  encodeLogits,
  encodeUnembedArgmax,
  type NeoXModel,
} from "./model.ts";
import { shippedTuning, type Tuning } from "./tuning.ts";
import { fitWorkspace, type Workspace, type WorkspaceRequest } from "./workspace.ts";

/** Batch, prompt and continuation lengths, memory budget (see WorkspaceRequest), and the matmuls' tuning. */
export interface DecoderOptions extends WorkspaceRequest {
  /**
   * Which tile variant runs each matmul (`useTuning`'s choice for a command, `Tuning.forced` for a test);
   * default: the table shipped for this adapter, else the built-in defaults. Results never depend on it.
   */
  tuning?: Tuning;
}

/** How `Decoder.firstMismatch` runs. */
export interface ExtractOptions {
  /** Token id excluded from the argmax (EleutherAI's pipeline forbids EOS = 0), or null. */
  suppress: number | null;
  /** Also return the mean log-probability of the true continuation (disables early exit). */
  logprob: boolean;
  /** Continuation positions checked per step; a row leaves the batch at its first mismatch. */
  chunks?: number[];
}

/**
 * Logits that are not finite numbers, found where results are read back: an argmax that found no token (a NaN
 * logit, which the argmax takes as +Infinity as torch.argmax takes it as the greatest, or a greatest logit of
 * +Infinity: shaders/argmax_reduce.wgsl writes its "none" placeholder, which is no token id), a NaN or infinite
 * log-probability, or a NaN or infinite logit. Weights are checked to be finite as they load
 * (engine/model.ts), so this is an overflow in the model's computation; no result of such a row may be
 * written. `row` is the row of the batch; callers that know the row by another name (a data row, a row of
 * --tokens) say so with `naming`.
 */
export class NonFiniteLogits extends EngramError {
  /** The error for `row` of the batch of `checkpoint`; `found` says what was not finite. */
  constructor(
    /** The checkpoint that computed the logits. */
    readonly checkpoint: string,
    /** The row of the batch. */
    readonly row: number,
    /** Where in the row, e.g. "continuation position 3" or "position 7". */
    readonly position: string,
    /** What was not finite, e.g. "a NaN logit". */
    readonly found: string,
    rowName = `row ${row} of the batch`,
  ) {
    super(
      `${checkpoint}: the logits of ${rowName} at ${position} are not finite (${found}): the model's ` +
        `computation overflowed, and no result was written for it; check the checkpoint`,
    );
  }

  /** The same error naming the row as the caller knows it, e.g. "row 1234 of the data". */
  naming(rowName: (row: number) => string): NonFiniteLogits {
    return new NonFiniteLogits(this.checkpoint, this.row, this.position, this.found, rowName(this.row));
  }
}

/** Positions checked per early-exit step: most rows fail at position 0 or 1, few survive past 8. */
export const DEFAULT_CHUNKS = [1, 2, 4, 8, 17];

/**
 * Decodes batches of token rows on one model: greedy continuations, teacher-forced first mismatches (with early
 * exit) and full logits; its GPU workspace is sized once, for `batch` rows of prompt + cont tokens.
 */
export class Decoder {
  private constructor(readonly model: NeoXModel, private readonly ws: Workspace) {}

  /** Sequences per batch (the workspace's slots). */
  get batch(): number {
    return this.ws.shape.slots;
  }

  /**
   * The matmul tile variants this decoder's kernels have run (engine/tiles.ts names), sorted: recorded as they
   * were built, so a shrunken workspace, --logprob's reference unembedding and extractable mode's narrower
   * passes are counted as they ran.
   */
  get variantsUsed(): string[] {
    return [...this.ws.kernels.used].sort();
  }

  /** Prompt tokens per row. */
  get prompt(): number {
    return this.ws.shape.prompt;
  }
  /** Continuation tokens per row. */
  get cont(): number {
    return this.ws.shape.cont;
  }

  /** Builds the workspace (see fitWorkspace: the batch is halved until it fits). */
  static async create(model: NeoXModel, opts: DecoderOptions): Promise<Decoder> {
    const { tuning = shippedTuning(model.gpu), ...request } = opts;
    return new Decoder(model, await fitWorkspace(model, request, tuning));
  }

  /** The tuning this decoder's matmuls run (a results file's provenance records its `source`). */
  get tuning(): Tuning {
    return this.ws.kernels.tuning;
  }

  /** Writes `rows` token rows (rows × seqLen, or shorter rows padded with zeros) and resets slot_of. */
  private upload(tokens: Uint32Array, rows: number): void {
    const { gpu } = this.model;
    const { seqLen } = this.ws.shape;
    if (rows > this.batch) throw new EngramError(`internal: ${rows} rows exceed the batch of ${this.batch}`);
    if (tokens.length !== rows * seqLen) throw new EngramError(`internal: token rows are not ${seqLen} long`);
    gpu.write(this.ws.tokens, 0, tokens);
    gpu.write(this.ws.slotOf, 0, Uint32Array.from({ length: this.batch + 1 }, (_, i) => i));
  }

  /**
   * One forward pass of `rows` sequences × n new tokens from position t0, then the argmax of the last `per`
   * positions of each (continuation indices posBase ..), split into chunks that fit the workspace.
   */
  private encodePass(
    rec: Recorder,
    rows: number,
    n: number,
    t0: number,
    predict: { per: number; posBase: number; feed: boolean; suppress: number | null; logprob: boolean },
  ): void {
    const { shape } = this.ws;
    const chunk = Math.max(
      1,
      Math.min(Math.floor(shape.maxTokens / n), Math.floor(shape.maxUnembedRows / predict.per)),
    );
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const r = Math.min(chunk, rows - r0);
      encodeForward(rec, this.model, this.ws, { rows: r, n, t0, rowBase: r0 });
      encodeFinalNorm(rec, this.model, this.ws, {
        rows: r * predict.per,
        per: predict.per,
        stride: n,
        offset: n - predict.per,
      });
      encodeUnembedArgmax(rec, this.model, this.ws, {
        rows: r * predict.per,
        per: predict.per,
        rowBase: r0,
        posBase: predict.posBase,
        prompt: shape.prompt,
        seqLen: shape.seqLen,
        cont: shape.cont,
        suppress: predict.suppress,
        feed: predict.feed,
        logprob: predict.logprob,
      });
    }
  }

  /** Records `encode`'s dispatches (in compute passes, copies between them) and submits them. */
  private submit(encode: (rec: Recorder) => void): void {
    const { device } = this.model.gpu;
    const enc = device.createCommandEncoder();
    const rec = new Recorder(enc);
    encode(rec);
    rec.end();
    device.queue.submit([enc.finish()]);
  }

  /**
   * Greedy continuation of `rows` prompts (row-major, seqLen wide; only the first `prompt` tokens of each are
   * read): returns rows × cont token ids. Pure argmax, ties to the lowest id; `suppress` is never chosen.
   */
  async greedy(tokens: Uint32Array, rows: number, suppress: number | null = null): Promise<Uint32Array> {
    const { prompt, cont } = this.ws.shape;
    this.upload(tokens, rows);
    const predict = { per: 1, feed: true, suppress, logprob: false };
    this.submit((rec) => {
      this.encodePass(rec, rows, prompt, 0, { ...predict, posBase: 0 });
      for (let c = 1; c < cont; c++) {
        this.encodePass(rec, rows, 1, prompt + c - 1, { ...predict, posBase: c });
      }
    });
    const pred = new Uint32Array(await this.model.gpu.read(this.ws.pred, rows * cont * 4));
    for (let i = 0; i < pred.length; i++) {
      if (pred[i] >= this.model.cfg.vocabSize) this.noToken(Math.floor(i / cont), i % cont);
    }
    return pred;
  }

  /** Throws NonFiniteLogits for an argmax that found no token (the placeholder ≥ vocab size). */
  private noToken(row: number, position: number): never {
    throw new NonFiniteLogits(
      this.model.dir,
      row,
      `continuation position ${position}`,
      "no greatest logit that is a finite number (a NaN logit, or +Infinity), so the argmax found no token",
    );
  }

  /**
   * Teacher-forced extractability of `rows` full rows (prompt + true continuation, seqLen wide): the first
   * continuation position whose argmax given the true prefix differs from the true token (= cont when none),
   * which is exactly where greedy decoding first departs from the truth. Rows leave the batch at their first
   * mismatch; the survivors' KV caches stay where they are and the next chunk addresses them through slot_of.
   */
  async firstMismatch(
    tokens: Uint32Array,
    rows: number,
    opts: ExtractOptions,
  ): Promise<{ firstMismatch: Int16Array; logprob: Float32Array | null }> {
    const { gpu } = this.model;
    const { prompt, cont, seqLen } = this.ws.shape;
    this.upload(tokens, rows);
    const first = new Int16Array(rows).fill(cont);
    let active = Array.from({ length: rows }, (_, i) => i);
    const schedule = opts.logprob ? [cont] : (opts.chunks ?? DEFAULT_CHUNKS);
    let done = 0;
    for (let step = 0; done < cont && active.length > 0; step++) {
      const m = Math.min(schedule[Math.min(step, schedule.length - 1)], cont - done);
      let passRows = rows;
      if (done > 0) {
        // Pad with the scratch slot to a size bucket, so few distinct shapes (and bind groups) arise.
        passRows = Math.min(sizeBucket(active.length), this.batch + 1);
        const slots = new Uint32Array(passRows).fill(this.batch);
        slots.set(active);
        gpu.write(this.ws.slotOf, 0, slots);
      }
      // The first pass reads the prompt and the first m - 1 true continuation tokens; later ones the next m.
      const n = done === 0 ? prompt + m - 1 : m;
      const t0 = done === 0 ? 0 : prompt + done - 1;
      const predict = { per: m, posBase: done, feed: false, suppress: opts.suppress, logprob: opts.logprob };
      this.submit((rec) => this.encodePass(rec, passRows, n, t0, predict));
      const pred = new Uint32Array(await gpu.read(this.ws.pred, (this.batch + 1) * cont * 4));
      const survivors: number[] = [];
      for (const r of active) {
        let j = done;
        while (j < done + m && pred[r * cont + j] === tokens[r * seqLen + prompt + j]) j++;
        // Up to j the argmax was the true token; a placeholder at j is no mismatch but no token at all.
        if (j < done + m && pred[r * cont + j] >= this.model.cfg.vocabSize) this.noToken(r, j);
        if (j < done + m) first[r] = j;
        else survivors.push(r);
      }
      active = survivors;
      done += m;
    }
    let logprob: Float32Array | null = null;
    if (opts.logprob) {
      const lp = new Float32Array(await gpu.read(this.ws.logprob, rows * cont * 4));
      logprob = Float32Array.from({ length: rows }, (_, r) => {
        let s = 0;
        for (let j = 0; j < cont; j++) {
          const v = lp[r * cont + j];
          if (!Number.isFinite(v)) {
            throw new NonFiniteLogits(
              this.model.dir,
              r,
              `continuation position ${j}`,
              `log-probability ${v}`,
            );
          }
          s += v;
        }
        return s / cont;
      });
    }
    return { firstMismatch: first, logprob };
  }

  /** Logits at every position of `rows` rows of n tokens: rows × n × vocab floats. */
  async logits(tokens: Uint32Array, rows: number, n: number): Promise<Float32Array> {
    const { gpu, cfg } = this.model;
    const { shape } = this.ws;
    this.upload(tokens, rows);
    const out = new Float32Array(rows * n * cfg.vocabSize);
    const perChunk = Math.max(1, Math.floor(Math.min(shape.maxTokens, shape.maxUnembedRows) / n));
    for (let r0 = 0; r0 < rows; r0 += perChunk) {
      const r = Math.min(perChunk, rows - r0);
      this.submit((rec) => {
        encodeForward(rec, this.model, this.ws, { rows: r, n, t0: 0, rowBase: r0 });
        encodeFinalNorm(rec, this.model, this.ws, { rows: r * n, per: 1, stride: 1, offset: 0 });
        encodeLogits(rec, this.model, this.ws, r * n);
      });
      const chunk = new Float32Array(await gpu.read(this.ws.logits, r * n * cfg.vocabSize * 4));
      for (let i = 0; i < chunk.length; i++) {
        if (!Number.isFinite(chunk[i])) {
          const at = Math.floor(i / cfg.vocabSize);
          throw new NonFiniteLogits(
            this.model.dir,
            r0 + Math.floor(at / n),
            `position ${at % n}`,
            `the logit of token ${i % cfg.vocabSize} is ${chunk[i]}`,
          );
        }
      }
      out.set(chunk, r0 * n * cfg.vocabSize);
    }
    return out;
  }

  /** Frees the workspace's GPU memory (the model's weights stay). */
  destroy(): void {
    this.ws.destroy();
  }
}

/**
 * The smallest of 8, 12, 16, 24, 32, 48, ... (2^k and 1.5 × 2^k) that holds n: survivors padded to it waste
 * at most a third of a pass, and a batch of B rows meets about 2·log2(B) shapes.
 */
function sizeBucket(n: number): number {
  let size = 8;
  while (size < n) size = size % 3 === 0 ? (size / 3) * 4 : (size / 2) * 3;
  return size;
}
