// The numbers of Biderman et al. (2023) and of Pythia's training that engram's defaults follow, and the longest
// continuation engram scores, each defined here once and imported wherever it is meant.

/** Prompt tokens per row: a row is prompted with its first 32 tokens. */
export const PAPER_PROMPT = 32;

/** Continuation tokens per row: memorized (32-extractable) when the greedy next 32 tokens all match. */
export const PAPER_CONTINUATION = 32;

/** Pythia's rows per training step (1024 rows of 2048 tokens), for a step when nothing else says. */
export const PYTHIA_ROWS_PER_STEP = 1024;

/**
 * The longest continuation engram scores: the report keeps matches and first_mismatch as bytes (0..253), with
 * 254 and 255 marking unknown and unscored rows (analysis/columns.ts), so a longer one could be scored but
 * never read.
 */
export const MAX_CONTINUATION = 253;
