// JSONL texts → token rows, tokenized with @huggingface/tokenizers (pure JS; kept out of engine/ on purpose).
import { Tokenizer } from "@huggingface/tokenizers";
import { EngramError } from "../engine/errors.ts";
import { ensureRegularFile, MemoryRows, type RowSource } from "../engine/data.ts";
import { dirname, join } from "../engine/path.ts";

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

async function readJson(path: string, required: boolean): Promise<object | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new EngramError(`cannot read ${path}: ${(e as Error).message}`);
    }
    if (!required) return undefined;
    throw new EngramError(
      `no tokenizer at ${path}; pass --tokenizer DIR, a folder with the model's tokenizer.json`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new EngramError(`${path} is not valid JSON (${(e as Error).message}); download it again`);
  }
}

/** Loads tokenizer.json (a folder holding it, or the file itself) and tokenizer_config.json beside it if present. */
export async function loadTokenizer(dirOrFile: string): Promise<TextTokenizer> {
  const isFile = dirOrFile.endsWith(".json") ||
    (await Deno.stat(dirOrFile).catch(() => null))?.isFile === true;
  const dir = isFile ? dirname(dirOrFile) : dirOrFile;
  const json = await readJson(isFile ? dirOrFile : join(dir, "tokenizer.json"), true);
  const config = await readJson(join(dir, "tokenizer_config.json"), false) ?? {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json!, config);
  } catch (e) {
    throw new EngramError(`${dirOrFile}: tokenizer.json could not be loaded (${(e as Error).message})`);
  }
  return {
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
