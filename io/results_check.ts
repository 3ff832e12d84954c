// The checks of a results file's rows, the one home of them whichever format is read or written.
import { EngramError } from "../base/errors.ts";
import { type Provenance, provenanceRange } from "./provenance.ts";
import { isLogprob, LOGPROB_DOMAIN, type ResultsBatch } from "./results_schema.ts";

/**
 * Checks rows as a file is read or written: index, first_mismatch, matches, contiguity with the provenance's
 * range, and (at the end) the row count. The one home of these checks: `check` runs them over a batch to be
 * written, `toBatch` row by row as it decodes what a file holds.
 */
export class RowChecker {
  /** Rows checked so far. */
  rows = 0;
  private prev = -1;
  private readonly first: number | null;

  /** A checker of the rows `path` holds: `continuation` tokens scored per row, these columns present or not. */
  constructor(
    /** What holds the rows, as messages name it (a file, a journal). */
    readonly path: string,
    readonly continuation: number,
    readonly provenance: Provenance | null,
    readonly hasMatches: boolean,
    readonly hasLogprob: boolean,
  ) {
    this.first = provenance ? provenanceRange(provenance)[0] : null;
  }

  /** Throws the one-line error for row `row` (0-based; messages count from 1): "PATH: row N WHAT". */
  fail(row: number, what: string): never {
    throw new EngramError(`${this.path}: row ${row + 1} ${what}`);
  }

  /** Row `row` (0-based in the whole file) has index x. */
  index(row: number, x: number): void {
    // With provenance every index is known (first + row), which also makes it an increasing integer ≥ 0.
    if (this.first === null || x !== this.first + row) this.checkIndex(row, x);
    this.prev = x;
  }

  /** Index x must be a safe integer ≥ 0, greater than the row before's. */
  private checkIndex(row: number, x: number): void {
    if (!Number.isSafeInteger(x) || x < 0) this.fail(row, `has index ${x}; indices are integers ≥ 0`);
    if (x <= this.prev) {
      this.fail(
        row,
        `has index ${x} after ${this.prev}; indices must be strictly increasing (sort and dedupe)`,
      );
    }
    if (this.first !== null) {
      const expected = this.first + row;
      this.fail(
        row,
        `has index ${x} but its provenance's rows start at ${this.first}, so row ${
          row + 1
        } is ${expected}: ` +
          (x > expected ? `rows ${expected}..${x - 1} are missing` : "rows out of order"),
      );
    }
  }

  /** Row `row` has first_mismatch f and matches m (NaN: none, extractable mode), as numbers (before they are
   *  narrowed to 16 bits): integers in [0, continuation], = continuation both or neither. */
  values(row: number, f: number, m: number): void {
    const c = this.continuation;
    if (!(f >= 0 && f <= c && Math.floor(f) === f)) {
      this.fail(row, `has first_mismatch ${f}; expected an integer in [0, ${c}]`);
    }
    if (m !== m) return;
    if (!(m >= 0 && m <= c && Math.floor(m) === m)) {
      this.fail(row, `has matches ${m}; expected an integer in [0, ${c}]`);
    }
    if ((m === c) !== (f === c)) {
      this.fail(
        row,
        `has matches ${m} but first_mismatch ${f}: only a row with all ${c} right has both = ${c}`,
      );
    }
  }

  /** Row `row` has logprob v (as a double, before it is narrowed to f32); callers test isLogprob first, inline,
   *  so that a batch's rows cost a comparison each. */
  logprob(row: number, v: number): void {
    if (!isLogprob(v)) {
      this.fail(row, `has logprob ${v}; a mean log-probability is a number in ${LOGPROB_DOMAIN}`);
    }
  }

  /** Checks a batch of rows (to be written). `checked`: its rows were checked as they were read (see
   *  NamedRows), so only its first and last index are, which places the batch among the provenance's rows. */
  check(b: ResultsBatch, checked = false): void {
    if ((b.matches !== null) !== this.hasMatches) {
      throw new EngramError(
        `${this.path}: rows ${this.hasMatches ? "without" : "with"} matches in a file ${
          this.hasMatches ? "in score mode" : "without them (extractable mode)"
        }`,
      );
    }
    if ((b.logprob !== null) !== this.hasLogprob) {
      throw new EngramError(
        `${this.path}: rows ${this.hasLogprob ? "without" : "with"} logprob in a file ${
          this.hasLogprob ? "with" : "without"
        } the logprob column`,
      );
    }
    const matches = b.matches;
    if (checked && this.first !== null) {
      if (b.length > 0) {
        this.index(this.rows, b.index[0]);
        this.index(this.rows + b.length - 1, b.index[b.length - 1]);
      }
    } else {
      for (let i = 0; i < b.length; i++) {
        this.index(this.rows + i, b.index[i]);
        this.values(this.rows + i, b.firstMismatch[i], matches !== null ? matches[i] : NaN);
      }
      const lp = b.logprob;
      if (lp) {
        for (let i = 0; i < b.length; i++) if (!isLogprob(lp[i])) this.logprob(this.rows + i, lp[i]);
      }
    }
    this.rows += b.length;
  }

  /** The row count against the provenance's, once every row is checked. */
  end(): void {
    const p = this.provenance;
    if (p && this.rows !== p.rows) {
      const [first] = provenanceRange(p);
      throw new EngramError(
        `${this.path}: holds ${this.rows} rows but its provenance says ${p.rows} (rows [${first}, ${
          first + p.rows
        })${p.shard ? `, shard ${p.shard}` : ""}): a truncated or edited copy; score it again`,
      );
    }
  }
}
