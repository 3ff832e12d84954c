// EngramError, the one error type users see, and `ensure`, which throws it.
/**
 * The one error type users see. Its message is a single line that says what went wrong, where, and what to do;
 * the CLI prints it without a stack trace and exits non-zero. Anything else escaping is a bug in engram.
 */
export class EngramError extends Error {
  /** An error whose one-line `message` (what, where, what to do) is shown to the user as it is. */
  constructor(message: string) {
    super(message);
    this.name = "EngramError";
  }
}

/** Throws an EngramError with `message` unless `condition` holds. */
export function ensure(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new EngramError(typeof message === "string" ? message : message());
}
