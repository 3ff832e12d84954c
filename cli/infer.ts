// `cli.ts logits` and `cli.ts generate`: the engine on explicit token rows, for checks against other
// implementations. Token rows: "1,2,3;4,5,6" (rows separated by ';').
import { loadConfig } from "../engine/config.ts";
import { EngramError } from "../base/errors.ts";
import type { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { Decoder, NonFiniteLogits } from "../engine/decoder.ts";
import { intFlag, parseArgs } from "./args.ts";
import { importLazily } from "../base/lazy.ts";
import { findTokenizer, resolveOneCheckpoint } from "../io/checkpoints.ts";

/** One checkpoint, in a folder or the huggingface_hub cache (io/checkpoints.ts resolveOneCheckpoint). */
const MODEL_HELP =
  `  DIR: a checkpoint folder (config.json with safetensors or pytorch_model.bin weights), or one model's
  revisions: a models--ORG--NAME folder of the Hugging Face cache, ORG/NAME looked up in the cache
  ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub) or a folder of <revision>/ checkpoints, read at
  --revisions R (one name, default main).`;

/** Usage of each command, its own first (`logits --help`, `generate --help`). */
const HELP = {
  logits: `./engram logits --model DIR --tokens "1,2,3;4,5,6" [--revisions R] [--format json]
  The logits at every position of every row ({"logits": [[[vocab floats] per position] per row]}); without
  --format json, the argmax and its logit at each position.
${MODEL_HELP}`,
  generate: `./engram generate --model DIR --tokens "..." [--revisions R] [--max-new 32] [--format json]
                  [--tokenizer DIR]
  The greedy (pure argmax) continuation of each row ({"tokens": [[new ids] per row]}); without --format json,
  readable text, decoded with --tokenizer DIR or the tokenizer.json nearest in or above the model folder.
${MODEL_HELP}`,
};

const OPTIONS = {
  model: { type: "string" },
  revisions: { type: "string" },
  tokens: { type: "string" },
  "max-new": { type: "string" },
  format: { type: "string" },
  tokenizer: { type: "string" },
  help: { type: "boolean" },
} as const;

/** "1,2,3;4,5" → [[1,2,3],[4,5]], every id an integer in [0, vocab). */
function parseTokenRows(text: string | undefined, vocab: number): number[][] {
  if (!text) throw new EngramError(`--tokens is required, e.g. --tokens "1,2,3;4,5,6"`);
  return text.split(";").map((row, r) => {
    if (row.trim() === "") throw new EngramError(`--tokens: row ${r} is empty`);
    // "1,,2" or "1,2," is a token left out, not [1,2]: every field between commas is an id.
    return row.split(",").map((s) => s.trim()).map((field, p) => {
      if (field === "") {
        throw new EngramError(
          `--tokens: row ${r}, position ${p} is empty (two commas in a row, or one at an end); give a token id there`,
        );
      }
      const id = /^\d+$/.test(field) ? Number(field) : NaN;
      if (!(id < vocab)) {
        throw new EngramError(
          `--tokens: row ${r}, position ${p}: "${field}" is not a token id in [0, ${vocab})`,
        );
      }
      return id;
    });
  });
}

/** Row indices grouped by length (one batch per length: rows share their positions). */
function byLength(rows: number[][]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  rows.forEach((r, i) => groups.set(r.length, [...(groups.get(r.length) ?? []), i]));
  return groups;
}

/** A NonFiniteLogits naming the row of --tokens (`part` maps the batch's rows to them). */
const ofTokens = (e: unknown, part: number[]) =>
  e instanceof NonFiniteLogits ? e.naming((r) => `row ${part[r]} of --tokens`) : e;

/** `./engram logits` or `./engram generate` on `argv`; `gpu` opens the device, only once it is needed. */
export async function inferCommand(
  command: "logits" | "generate",
  argv: string[],
  gpu: () => Promise<Gpu>,
): Promise<void> {
  const { values: a } = parseArgs(argv, OPTIONS, command);
  if (a.help) return console.log(HELP[command]);
  if (!a.model) throw new EngramError(`${command}: --model DIR is required`);
  if (a.format !== undefined && a.format !== "json" && a.format !== "text") {
    throw new EngramError(`--format must be json or text, got "${a.format}"`);
  }
  const modelDir = await resolveOneCheckpoint(a.model, a.revisions);
  // Check the tokens against config.json before loading weights (a typo should not cost a 20 GB load).
  const rows = parseTokenRows(a.tokens, (await loadConfig(modelDir)).vocabSize);
  // The tokenizer that decodes generate's text, loaded now: a bad --tokenizer fails before any GPU work.
  const tokDir = command === "generate" && (a.tokenizer !== undefined || a.format !== "json")
    ? a.tokenizer ?? await findTokenizer(modelDir)
    : null;
  const tok = tokDir
    ? await (await importLazily<typeof import("../io/texts.ts")>("../io/texts.ts", import.meta.url))
      .loadTokenizer(tokDir)
    : null;
  const model = await NeoXModel.load(await gpu(), modelDir);
  if (command === "logits") {
    const out: number[][][] = new Array(rows.length);
    for (const [n, ids] of byLength(rows)) {
      const decoder = await Decoder.create(model, { batch: ids.length, prompt: n, cont: 0, logits: true });
      try {
        for (let b0 = 0; b0 < ids.length; b0 += decoder.batch) {
          const part = ids.slice(b0, b0 + decoder.batch);
          const logits = await decoder.logits(Uint32Array.from(part.flatMap((i) => rows[i])), part.length, n)
            .catch((e) => Promise.reject(ofTokens(e, part)));
          const V = model.cfg.vocabSize;
          part.forEach((i, k) => {
            out[i] = Array.from(
              { length: n },
              (_, p) => Array.from(logits.subarray((k * n + p) * V, (k * n + p + 1) * V)),
            );
          });
        }
      } finally {
        decoder.destroy();
      }
    }
    if (a.format === "json") console.log(JSON.stringify({ logits: out }));
    else {
      out.forEach((row, r) =>
        row.forEach((l, p) => {
          let best = 0;
          for (let v = 1; v < l.length; v++) if (l[v] > l[best]) best = v;
          console.log(`row ${r} position ${p}: argmax ${best} (logit ${l[best].toFixed(4)})`);
        })
      );
    }
    return;
  }
  const maxNew = intFlag(a["max-new"], "max-new", 1) ?? 32;
  const generated: number[][] = new Array(rows.length);
  for (const [n, ids] of byLength(rows)) {
    const decoder = await Decoder.create(model, { batch: ids.length, prompt: n, cont: maxNew });
    try {
      for (let b0 = 0; b0 < ids.length; b0 += decoder.batch) {
        const part = ids.slice(b0, b0 + decoder.batch);
        const tokens = new Uint32Array(part.length * (n + maxNew));
        part.forEach((i, k) => tokens.set(rows[i], k * (n + maxNew)));
        const pred = await decoder.greedy(tokens, part.length).catch((e) =>
          Promise.reject(ofTokens(e, part))
        );
        part.forEach((i, k) => generated[i] = Array.from(pred.subarray(k * maxNew, (k + 1) * maxNew)));
      }
    } finally {
      decoder.destroy();
    }
  }
  if (a.format === "json") return console.log(JSON.stringify({ tokens: generated }));
  generated.forEach((g, r) => {
    console.log(`row ${r}: ${g.join(",")}`);
    if (tok) console.log(`  ${JSON.stringify(tok.decode(rows[r]))} → ${JSON.stringify(tok.decode(g))}`);
  });
}
