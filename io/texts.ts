// JSONL texts → token rows, tokenized with @huggingface/tokenizers (pure JS; kept out of engine/ on purpose).
import { Tokenizer } from "@huggingface/tokenizers";
import { EngramError } from "../base/errors.ts";
import { ensureRegularFile, MemoryRows, type RowSource } from "./rows.ts";
import { isFile, readJsonFile } from "../base/fs.ts";
import { dirname, join } from "../base/path.ts";

/** A tokenizer.json, loaded. */
export interface TextTokenizer {
  /** The tokenizer.json loaded: texts tokenized by another one are other rows. */
  path: string;
  /** The token ids of `text`. */
  encode(text: string): number[];
  /** The text of token ids `ids`. */
  decode(ids: number[]): string;
}

/** Loads tokenizer.json (a folder holding it, or the file itself) and tokenizer_config.json beside it if present. */
export async function loadTokenizer(dirOrFile: string): Promise<TextTokenizer> {
  const file = dirOrFile.endsWith(".json") || await isFile(dirOrFile);
  const dir = file ? dirname(dirOrFile) : dirOrFile;
  const path = file ? dirOrFile : join(dir, "tokenizer.json");
  const json = await readJsonFile(path, "download it again");
  if (json === undefined) {
    throw new EngramError(
      `no tokenizer at ${path}; pass --tokenizer DIR, a folder with the model's tokenizer.json`,
    );
  }
  const config = await readJsonFile(join(dir, "tokenizer_config.json"), "download it again") ?? {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, config as object);
  } catch (e) {
    throw new EngramError(`${dirOrFile}: tokenizer.json could not be loaded (${(e as Error).message})`);
  }
  return {
    path,
    // Training rows carry no BOS/EOS added by the tokenizer, and decoded text must be the exact bytes.
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) =>
      tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
  };
}

/** Reads a .jsonl file, one {"text": "..."} object (or a bare JSON string) per line; blank lines are skipped. */
export async function openTextRows(path: string, tokenizer: TextTokenizer): Promise<RowSource> {
  let content: string;
  await ensureRegularFile(path, "a .jsonl file of texts");
  try {
    content = await Deno.readTextFile(path);
  } catch (e) {
    throw new EngramError(`cannot read ${path}: ${(e as Error).message}; pass a .jsonl file of texts`);
  }
  const rows: number[][] = [];
  const lines = content.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new EngramError(
        `${path}:${i + 1}: not valid JSON (${(e as Error).message}); one JSON object a line`,
      );
    }
    const text = typeof value === "string"
      ? value
      : (value !== null && typeof value === "object" && "text" in value ? value.text : undefined);
    if (typeof text !== "string") {
      throw new EngramError(
        `${path}:${i + 1}: expected {"text": "..."} or a JSON string, got ${line.slice(0, 60)}`,
      );
    }
    rows.push(tokenizer.encode(text));
  }
  return new MemoryRows(rows, `${path} (JSONL texts, ${rows.length} rows)`);
}
