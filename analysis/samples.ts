// The target's memorized rows decoded to text, so a person can see what was memorized.
import { loadTokenizer, openTextRows } from "../io/texts.ts";
import { listedTokens } from "../io/published.ts";
import { EngramError } from "../base/errors.ts";
import { openRowSource, rowSourceKind } from "../io/rows.ts";
import { count, forEachRow } from "./bitset.ts";
import type { Dataset, Source } from "./dataset.ts";

/** A memorized row of the target, decoded. */
export interface Sample {
  /** The row's index in the training data. */
  index: number;
  /** The prompt's tokens as text. */
  prompt: string;
  /** The continuation's tokens as text (what the model reproduced). */
  continuation: string;
}

/** How memorized rows are decoded (memorizedSamples). */
export interface SampleOptions {
  /** The tokenizer folder (or tokenizer.json) to decode with. */
  tokenizer: string;
  /** Megatron .bin/.idx prefix (or .npy, .jsonl) holding the training rows; unused for a target that is a
   *  memorized-evals list, whose rows are decoded from the list's own tokens (null: none given). */
  data: string | null;
  /** Rows to show at most. */
  count: number;
  /** Tokens of the prompt, of the continuation, and where in the row the prompt starts (the paper: 32, 32, 0). */
  prompt: number;
  /** Tokens of the continuation. */
  continuation: number;
  /** Where in the row the prompt starts, in tokens. */
  offset: number;
}

/** Up to `count` memorized rows of the target (training row indices, ascending), evenly spread over its
 *  memorized set. */
export function sampleRows(dataset: Dataset, target: Source, wanted: number): number[] {
  const memorized = dataset.memorized.get(target.source)!;
  const total = count(memorized), take = Math.min(wanted, total);
  const out: number[] = [];
  let rank = 0;
  forEachRow(memorized, (position) => {
    if (out.length < take && rank === Math.floor(out.length * total / take)) {
      out.push(dataset.space.index(position));
    }
    rank++;
  });
  return out;
}

// deno-lint-ignore no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Makes decoded text safe to show: control characters become visible escapes (\n, \t, \u0000). */
export function visible(text: string): string {
  return text.replace(
    INVISIBLE,
    (c) =>
      c === "\n"
        ? "\\n"
        : c === "\t"
        ? "\\t"
        : c === "\r"
        ? "\\r"
        : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Reads and decodes the sampled rows: prompt and continuation separately. */
export async function memorizedSamples(
  dataset: Dataset,
  target: Source,
  options: SampleOptions,
): Promise<Sample[]> {
  const rows = sampleRows(dataset, target, options.count);
  if (rows.length === 0) return [];
  const tokenizer = await loadTokenizer(options.tokenizer);
  const length = options.prompt + options.continuation;
  const tokens = target.listedOnly
    ? await listRows(target, rows, options.offset, length)
    : await dataRows(options.data, tokenizer, rows, options.offset, length);
  return rows.map((index, i) => {
    const row = Array.from(tokens.subarray(i * length, (i + 1) * length));
    return {
      index,
      prompt: visible(tokenizer.decode(row.slice(0, options.prompt))),
      continuation: visible(tokenizer.decode(row.slice(options.prompt))),
    };
  });
}

/** Tokens [offset, offset + length) of `rows` of the training data, packed row after row. */
async function dataRows(
  data: string | null,
  tokenizer: Awaited<ReturnType<typeof loadTokenizer>>,
  rows: number[],
  offset: number,
  length: number,
): Promise<Uint32Array> {
  if (data === null) {
    throw new EngramError("report: decoding memorized rows needs the training data; pass --data");
  }
  // Texts are read through the tokenizer that decodes them (the one that scored them, as the report finds it).
  const source = rowSourceKind(data) === "jsonl"
    ? await openTextRows(data, tokenizer)
    : await openRowSource(data);
  try {
    return await source.read(rows, offset, length);
  } finally {
    source.close();
  }
}

/** The same from a memorized-evals list's own tokens (each listed row's first 64): no training data needed. */
async function listRows(
  target: Source,
  rows: number[],
  offset: number,
  length: number,
): Promise<Uint32Array> {
  const listed = await listedTokens(target.files, rows);
  const out = new Uint32Array(rows.length * length);
  for (const [i, index] of rows.entries()) {
    const tokens = listed.get(index);
    if (!tokens) {
      throw new EngramError(`${target.files.join(", ")}: index ${index} was listed but is not found again`);
    }
    if (tokens.length < offset + length) {
      throw new EngramError(
        `${target.files.join(", ")}: index ${index} lists ${tokens.length} tokens, fewer than the ${
          offset + length
        } of its prompt and continuation; is this a memorized-evals list?`,
      );
    }
    out.set(tokens.slice(offset, offset + length), i * length);
  }
  return out;
}

/**
 * Refuses training data other than the data a memorized-evals list was drawn from (the standard Pile given for a
 * deduped list, say), as the fingerprint in a results file's provenance refuses it: the list's own tokens of up to
 * `count` of its rows (those the samples show) must be the data's first tokens of those rows. Texts (.jsonl) are
 * not checked (their tokens depend on a tokenizer).
 */
export async function checkListAgainstData(
  dataset: Dataset,
  target: Source,
  data: string,
  count = 10,
): Promise<void> {
  if (rowSourceKind(data) === "jsonl") return;
  const rows = sampleRows(dataset, target, count);
  if (rows.length === 0) return;
  const listed = await listRows(target, rows, 0, LISTED_TOKENS);
  const source = await openRowSource(data);
  try {
    const fromData = await source.read(rows, 0, LISTED_TOKENS);
    const i = rows.findIndex((_, i) =>
      fromData.subarray(i * LISTED_TOKENS, (i + 1) * LISTED_TOKENS).some((t, p) =>
        t !== listed[i * LISTED_TOKENS + p]
      )
    );
    if (i >= 0) {
      throw new EngramError(
        `--data ${data} is not the data ${target.source}'s memorized-evals list was drawn from: row ${
          rows[i]
        }'s first ${LISTED_TOKENS} tokens differ from the list's (${target.files[0]}); pass that data ` +
          `(the deduplicated Pile for deduped.* lists), or drop --data`,
      );
    }
  } finally {
    source.close();
  }
}

/** Tokens a memorized-evals list holds of each row: its first 64 (the paper's prompt and continuation). */
const LISTED_TOKENS = 64;
