// Bad input, run as a user would (`deno run -A cli.ts ...` in a subprocess): exit code 1 and ONE line on stderr
// starting with "engram:" that names the problem and the place (file, tensor, row, field), never a stack trace.
// The bad checkpoints and datasets are made at test time from the golden model and small Megatron files.
import { assertEquals } from "./assert.ts";
import { expectError } from "./cli_contract.ts";
import { FIXTURES, withTempDir } from "./helpers.ts";
import { tokenRows, writeMegatron } from "./megatron.ts";

const GOLDEN = `${FIXTURES}golden/neox-parallel/float32`;
const PICO_CHECKPOINT = `${FIXTURES}pico/models/pico-1/step273`;
const PICO_VOCAB = 2048;

// ---------------------------------------------------------------------------------------------- checkpoints

interface Safetensors {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  data: Uint8Array;
}

function parseSafetensors(bytes: Uint8Array): Safetensors {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))),
    data: bytes.subarray(8 + n),
  };
}

function safetensorsBytes({ header, data }: Safetensors): Uint8Array {
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

/** A copy of the golden checkpoint in a fresh temporary folder; returns the folder. */
async function goldenCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "engram-bad-model-" });
  await Deno.copyFile(`${GOLDEN}/config.json`, `${dir}/config.json`);
  await Deno.copyFile(`${GOLDEN}/model.safetensors`, `${dir}/model.safetensors`);
  return dir;
}

/** Rewrites the copy's model.safetensors through `edit`. */
async function editWeights(dir: string, edit: (bytes: Uint8Array) => Uint8Array): Promise<void> {
  const path = `${dir}/model.safetensors`;
  await Deno.writeFile(path, edit(await Deno.readFile(path)));
}

/** Rewrites the copy's safetensors header through `edit`, keeping the tensor data. */
function editHeader(dir: string, edit: (h: Safetensors["header"]) => void): Promise<void> {
  return editWeights(dir, (bytes) => {
    const st = parseSafetensors(bytes);
    edit(st.header);
    return safetensorsBytes(st);
  });
}

const logits = (dir: string) => ["logits", "--model", dir, "--tokens", "1,2,3"];

/** One test per bad checkpoint: `make` alters a golden copy; the error must mention `mentions(dir)`. */
function modelCase(
  name: string,
  make: (dir: string) => Promise<void>,
  mentions: (dir: string) => (string | RegExp)[],
) {
  Deno.test(`logits, bad checkpoint: ${name}`, async () => {
    const dir = await goldenCopy();
    try {
      await make(dir);
      await expectError(logits(dir), mentions(dir));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

modelCase(
  "truncated model.safetensors",
  (dir) => editWeights(dir, (b) => b.slice(0, b.length - 4096)),
  (dir) => [`${dir}/model.safetensors`, /truncated/],
);

modelCase(
  "header length past the end of the file",
  (dir) =>
    editWeights(dir, (b) => {
      new DataView(b.buffer).setBigUint64(0, BigInt(b.length + 100), true);
      return b;
    }),
  (dir) => [`${dir}/model.safetensors`, /header length/, /past the end|truncated/],
);

modelCase(
  "header is not valid JSON",
  (dir) =>
    editWeights(dir, (b) => {
      b[8] = "#".charCodeAt(0);
      return b;
    }),
  (dir) => [`${dir}/model.safetensors`, /header/, /JSON/],
);

modelCase(
  'unknown dtype "I8"',
  (dir) =>
    editHeader(dir, (h) => {
      const t = h["gpt_neox.layers.0.attention.dense.bias"];
      // 256 bytes: 64 floats, or 4 × 64 int8s.
      [t.dtype, t.shape] = ["I8", [4, 64]];
    }),
  (dir) => [`${dir}/model.safetensors`, "gpt_neox.layers.0.attention.dense.bias", "I8"],
);

modelCase(
  "a tensor whose shape disagrees with config.json",
  // Same byte count, so only the shape check against config.json can catch it.
  (dir) => editHeader(dir, (h) => void (h["gpt_neox.layers.0.attention.dense.weight"].shape = [32, 128])),
  (dir) => [
    `${dir}/model.safetensors`,
    "gpt_neox.layers.0.attention.dense.weight",
    /\[32, ?128\]/,
    /\[64, ?64\]/,
    /config\.json/,
  ],
);

modelCase(
  "a missing tensor",
  (dir) => editHeader(dir, (h) => void delete h["gpt_neox.layers.1.mlp.dense_h_to_4h.bias"]),
  (dir) => [dir, "gpt_neox.layers.1.mlp.dense_h_to_4h.bias", /missing/],
);

modelCase(
  'model_type "llama"',
  async (dir) => {
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    cfg.model_type = "llama";
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(cfg, null, 1));
  },
  (dir) => [`${dir}/config.json`, "model_type", "llama"],
);

modelCase(
  "a folder without config.json",
  (dir) => Deno.remove(`${dir}/config.json`),
  (dir) => [`${dir}/config.json`, /missing|not found|no config/i],
);

/** Sets element `at` of the copy's F32 tensor `name` to `value` (every other element when `at` is "all"). */
function setWeight(dir: string, name: string, at: number | "all", value: number): Promise<void> {
  return editWeights(dir, (bytes) => {
    const st = parseSafetensors(bytes), t = st.header[name];
    const data = st.data.slice(), view = new DataView(data.buffer);
    const [from, to] = t.data_offsets;
    for (let i = from; i < to; i += 4) {
      if (at === "all" || i === from + at * 4) view.setFloat32(i, value, true);
    }
    return safetensorsBytes({ header: st.header, data });
  });
}

/** Sets row `row` of the copy's F32 matrix `name` to value(i) at column i. */
function setRow(dir: string, name: string, row: number, value: (i: number) => number): Promise<void> {
  return editWeights(dir, (bytes) => {
    const st = parseSafetensors(bytes), t = st.header[name];
    const data = st.data.slice(), view = new DataView(data.buffer), cols = t.shape[1];
    for (let i = 0; i < cols; i++) view.setFloat32(t.data_offsets[0] + (row * cols + i) * 4, value(i), true);
    return safetensorsBytes({ header: st.header, data });
  });
}

modelCase(
  "a NaN weight: stopped as it loads, naming the tensor and the element",
  (dir) => setWeight(dir, "gpt_neox.layers.1.attention.dense.weight", 3 * 64 + 5, NaN),
  (dir) => [`${dir}/model.safetensors`, "gpt_neox.layers.1.attention.dense.weight", "holds NaN at [3, 5]"],
);

modelCase(
  "an infinite bias",
  (dir) => setWeight(dir, "gpt_neox.layers.0.mlp.dense_h_to_4h.bias", 17, -Infinity),
  (
    dir,
  ) => [`${dir}/model.safetensors`, "gpt_neox.layers.0.mlp.dense_h_to_4h.bias", "holds -Infinity at [17]"],
);

// Finite weights whose computation overflows (embeddings of 3e38: the first layer norm's mean is infinite, every
// logit NaN): where results are read back, the run stops naming the checkpoint and the row; never a placeholder
// token (the argmax's "none", 4294967295), a "0 matches" row or a NaN log-probability in any output.
const OVERFLOWING = (dir: string) => setWeight(dir, "gpt_neox.embed_in.weight", "all", 3e38);
const NOT_FINITE = /are not finite/;

modelCase(
  "logits that overflow to NaN (logits)",
  OVERFLOWING,
  (dir) => [`${dir}: the logits of row 0 of --tokens at position 0`, NOT_FINITE, "is NaN"],
);

// A final layer norm bias of 3e38: logits of ±Infinity, whose argmax would be the first +Infinity, a token picked
// by no number.
const TO_INFINITY = (dir: string) => setWeight(dir, "gpt_neox.final_layer_norm.bias", "all", 3e38);

Deno.test("generate with logits that overflow (NaN, +Infinity): no placeholder token, one line naming the row", async () => {
  for (
    const [make, format] of [[OVERFLOWING, "json"], [OVERFLOWING, "text"], [TO_INFINITY, "json"]] as const
  ) {
    const dir = await goldenCopy();
    try {
      await make(dir);
      await expectError(
        ["generate", "--model", dir, "--tokens", "1,2,3;4,5,6", "--max-new", "4", "--format", format],
        [
          `${dir}: the logits of row 0 of --tokens at continuation position 0`,
          NOT_FINITE,
          /argmax found no token/,
        ],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("score with logits that overflow: each mode stops naming the data row; no results file", async () => {
  await withTempDir(async (dir) => {
    // Golden vocabulary: 512 tokens.
    const rows = Array.from(
      { length: 6 },
      (_, r) => Array.from({ length: 64 }, (_, p) => (r * 31 + p * 7) % 500 + 1),
    );
    await writeMegatron(`${dir}/data`, rows);
    const cases: [string, (dir: string) => Promise<void>, string[], RegExp][] = [
      ["score", OVERFLOWING, ["--mode", "score"], /argmax found no token/],
      ["extractable", OVERFLOWING, ["--mode", "extractable"], /argmax found no token/],
      ["score, +Infinity", TO_INFINITY, ["--mode", "score"], /argmax found no token/],
      // The unembedding row of the first true token of data row 2 at ±3e38 in turn: that one logit is NaN
      // (+Infinity − Infinity) among finite ones. torch.argmax would pick it; the argmax takes it as +Infinity
      // and answers no token, in every mode, with or without log-probabilities (it used to pass over it).
      ...(["extractable", "score"] as const).flatMap((mode) =>
        [[], ["--logprob"]].map((logprob): [string, (dir: string) => Promise<void>, string[], RegExp] => [
          `${mode} ${logprob.join("")}, one NaN logit`,
          (dir) => setRow(dir, "embed_out.weight", rows[2][32], (i) => i % 2 ? -3e38 : 3e38),
          ["--mode", mode, ...logprob],
          /a NaN logit, or \+Infinity\), so the argmax found no token/,
        ])
      ),
    ];
    for (const [name, make, mode, found] of cases) {
      const model = await goldenCopy(), out = `${dir}/out-${name}`;
      try {
        await make(model);
        await expectError(
          [
            "score",
            "--model",
            model,
            "--data",
            `${dir}/data`,
            "--start",
            "2",
            "--count",
            "4",
            "--out",
            out,
            "--quiet",
            ...mode,
          ],
          [`${model}: the logits of row 2 of the data at continuation position 0`, NOT_FINITE, found],
        );
      } finally {
        await Deno.remove(model, { recursive: true });
      }
      const written = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
      assertEquals(written.filter((e) => !e.name.endsWith(".partial")), [], `${name}: no results file`);
    }
  }, "engram-overflow-");
});

// ---------------------------------------------------------------------------------------------- token rows

Deno.test('logits --tokens "1,x,3": names the row, the position and the bad text', async () => {
  await expectError(["logits", "--model", GOLDEN, "--tokens", "1,x,3"], [
    "--tokens",
    "row 0",
    "position 1",
    '"x"',
  ]);
});

Deno.test("logits --tokens with an id ≥ vocab_size: names the row, the position and the id", async () => {
  await expectError(["logits", "--model", GOLDEN, "--tokens", "1,2;3,600"], [
    "--tokens",
    "row 1",
    "position 1",
    "600",
    "512",
  ]);
});

// An empty field is a token left out, not nothing: "1,,2" and "1,2," are not read as [1,2].
for (const [tokens, row, position] of [["1,,2", 0, 1], ["3;1,2,", 1, 2], [",1", 0, 0]] as const) {
  Deno.test(`logits --tokens "${tokens}": an empty token names its row and position`, async () => {
    await expectError(["logits", "--model", GOLDEN, "--tokens", tokens], [
      "--tokens",
      `row ${row}, position ${position} is empty`,
    ]);
  });
}

// A bad --tokenizer fails before the weights are loaded and the rows generated: this checkpoint has no weights,
// so an error about the tokenizer shows that it was checked first.
Deno.test("generate --tokenizer naming no tokenizer: refused before any weight is loaded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-no-weights-" });
  try {
    await Deno.copyFile(`${GOLDEN}/config.json`, `${dir}/config.json`);
    await expectError(
      ["generate", "--model", dir, "--tokens", "1,2", "--tokenizer", `${dir}/typo`],
      [`no tokenizer at ${dir}/typo/tokenizer.json`, "--tokenizer"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------- data

/**
 * One test per bad score run: `make(dir)` writes what it needs into a fresh folder and returns the extra
 * arguments; the error must mention `mentions(dir)`, and no results file may appear in the output folder.
 */
function scoreCase(
  name: string,
  make: (dir: string) => Promise<string[]> | string[],
  mentions: (dir: string) => (string | RegExp)[],
) {
  Deno.test(`score, bad input: ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "engram-bad-data-" });
    try {
      const extra = await make(dir);
      const out = `${dir}/out`;
      await expectError(
        ["score", "--model", PICO_CHECKPOINT, "--out", out, "--format", "csv", "--quiet", ...extra],
        mentions(dir),
        { timeoutMs: 120_000 }, // a run that hangs (reading a FIFO) fails rather than stalls the suite
      );
      const results: string[] = [];
      try {
        for await (const e of Deno.readDir(out)) if (!e.name.endsWith(".partial")) results.push(e.name);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      assertEquals(results, [], "no results file after a failed run");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

scoreCase(
  "--data names a prefix that does not exist",
  (dir) => ["--data", `${dir}/nothing`],
  (dir) => [`${dir}/nothing`, /not found|no such/i, ".npy", ".jsonl"],
);

scoreCase(
  "a Megatron .idx with a bad magic",
  async (dir) => {
    await writeMegatron(`${dir}/bad`, tokenRows(4), { magic: "NOTANIDX\0" });
    return ["--data", `${dir}/bad`];
  },
  (dir) => [`${dir}/bad.idx`, /magic/],
);

for (const code of [6, 7]) {
  scoreCase(
    `a Megatron .idx with the float dtype code ${code}`,
    async (dir) => {
      await writeMegatron(`${dir}/float`, tokenRows(4), { code });
      return ["--data", `${dir}/float`];
    },
    (dir) => [`${dir}/float.idx`, `dtype code ${code}`, /float/],
  );
}

scoreCase(
  "--start 2040 --count 100 runs past the end of the 2048-row fixture",
  () => ["--start", "2040", "--count", "100"],
  () => ["pico_document", "2047", /past the end/],
);

scoreCase(
  "--continuation 254, one more than the report reads",
  () => ["--continuation", "254", "--count", "1"],
  () => ["--continuation 254", "at most 253"],
);

scoreCase(
  "a row shorter than prompt + continuation (64 tokens)",
  async (dir) => {
    const rows = tokenRows(8);
    rows[5] = rows[5].slice(0, 40);
    await writeMegatron(`${dir}/short`, rows);
    return ["--data", `${dir}/short`];
  },
  (dir) => [`${dir}/short`, /\brow 5\b/, /\b40 tokens\b/],
);

scoreCase(
  "--offset 8 pushes prompt + continuation (64 tokens) past the end of 64-token rows",
  async (dir) => {
    await writeMegatron(`${dir}/rows`, tokenRows(4));
    return ["--data", `${dir}/rows`, "--offset", "8"];
  },
  (
    dir,
  ) => [`${dir}/rows`, /\brow 0\b/, "[8, 72)", "--offset + --prompt + --continuation (8 + 64)", "72 tokens"],
);

scoreCase(
  `a token ≥ the vocab size (${PICO_VOCAB})`,
  async (dir) => {
    const rows = tokenRows(8);
    rows[3][10] = PICO_VOCAB + 2;
    await writeMegatron(`${dir}/vocab`, rows);
    return ["--data", `${dir}/vocab`];
  },
  (dir) => [`${dir}/vocab`, /\brow 3\b/, /\bposition 10\b/, String(PICO_VOCAB + 2)],
);

scoreCase(
  "--model names a folder that holds no checkpoint",
  async (dir) => {
    await Deno.mkdir(`${dir}/empty`);
    return ["--model", `${dir}/empty`];
  },
  (dir) => ["--model", `${dir}/empty`, /no checkpoint/],
);

scoreCase("--count is not a number", () => ["--count", "ten"], () => ["--count", '"ten"']);

scoreCase("--shard 3/2", () => ["--shard", "3/2"], () => ["--shard", "3/2"]);

scoreCase("--mode bogus", () => ["--mode", "bogus"], () => ["--mode", "bogus"]);

scoreCase("an unknown flag", () => ["--bogus-flag", "1"], () => ["--bogus-flag"]);

/** Makes a FIFO (named pipe) at `path`: opening it to read would wait for a writer forever. */
async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assertEquals(r.code, 0, `mkfifo ${path}: ${new TextDecoder().decode(r.stderr)}`);
}

scoreCase(
  "the Megatron .idx is a FIFO",
  async (dir) => {
    await writeMegatron(`${dir}/pipe`, tokenRows(4));
    await Deno.remove(`${dir}/pipe.idx`);
    await mkfifo(`${dir}/pipe.idx`);
    return ["--data", `${dir}/pipe`];
  },
  (dir) => [`${dir}/pipe.idx`, /FIFO/, /not a regular file/],
);

scoreCase(
  "a .npy that is a FIFO",
  async (dir) => {
    await mkfifo(`${dir}/rows.npy`);
    return ["--data", `${dir}/rows.npy`];
  },
  (dir) => [`${dir}/rows.npy`, /FIFO/],
);

scoreCase(
  "a .jsonl of texts that is a FIFO",
  async (dir) => {
    await mkfifo(`${dir}/texts.jsonl`);
    return ["--data", `${dir}/texts.jsonl`, "--tokenizer", `${FIXTURES}pico/tokenizer`];
  },
  (dir) => [`${dir}/texts.jsonl`, /FIFO/],
);

scoreCase(
  "a .npy that is a folder",
  async (dir) => {
    await Deno.mkdir(`${dir}/rows.npy`);
    return ["--data", `${dir}/rows.npy`];
  },
  (dir) => [`${dir}/rows.npy`, /folder/],
);

// Texts with no tokenizer.json near the model: the message names every folder looked in, not only the first.
scoreCase(
  "texts whose model has no tokenizer near it",
  async (dir) => {
    await Deno.mkdir(`${dir}/a/b/m`, { recursive: true });
    for (const f of ["config.json", "model.safetensors"]) {
      await Deno.copyFile(`${PICO_CHECKPOINT}/${f}`, `${dir}/a/b/m/${f}`);
    }
    await Deno.writeTextFile(`${dir}/texts.jsonl`, '{"text": "a row"}\n');
    return ["--model", `${dir}/a/b/m`, "--data", `${dir}/texts.jsonl`];
  },
  (dir) => [`in ${dir}/a/b/m, ${dir}/a/b, ${dir}/a, ${dir};`, "tokenizer/tokenizer.json", "--tokenizer DIR"],
);

// Token rows need no tokenizer: one given with them would be ignored, so it is refused.
scoreCase(
  "--tokenizer with Megatron token data",
  () => ["--tokenizer", `${FIXTURES}pico/tokenizer`],
  () => ["--tokenizer applies to .jsonl texts only", "pico_document"],
);

// Integer flags are plain decimal digits: no sign, hex, exponent, fraction or blank.
scoreCase("--start -5", () => ["--start", "-5"], () => ["--start", /"-"/]);
for (const value of ["-5", "0x10", "", "1e3", "+3", "2.0", " 7"]) {
  scoreCase(`--start=${JSON.stringify(value)}`, () => [`--start=${value}`], () => ["--start", `"${value}"`]);
}
scoreCase("--count 0x10", () => ["--count", "0x10"], () => ["--count", '"0x10"']);
// --rows-per-step alone would be ignored (all rows scored): it belongs to --step.
scoreCase(
  "--rows-per-step without --step",
  () => ["--rows-per-step", "16"],
  () => ["--rows-per-step", "--step"],
);

scoreCase(
  "--start past the last row of the 2048-row fixture",
  () => ["--start", "5000"],
  () => ["--start 5000 is past the last row (2047)", "pico_document"],
);

scoreCase(
  "a data set with no rows",
  async (dir) => {
    await writeMegatron(`${dir}/empty`, []);
    return ["--data", `${dir}/empty`];
  },
  (dir) => [`${dir}/empty`, "has no rows"],
);

// Results are named <model>@<revision>, and the report picks them that way: "@" in a name is refused.
scoreCase(
  "a checkpoint folder whose name contains @",
  async (dir) => {
    await Deno.symlink(PICO_CHECKPOINT, `${dir}/my@model`);
    return ["--model", `${dir}/my@model`];
  },
  () => ['"my@model"', /contains "@"/, /rename/],
);

scoreCase(
  "a revision folder whose name contains @",
  async (dir) => {
    await Deno.mkdir(`${dir}/pico`);
    await Deno.symlink(PICO_CHECKPOINT, `${dir}/pico/step273@b`);
    return ["--model", `${dir}/pico`];
  },
  () => ['"step273@b"', /revision/],
);

// --models, --revisions and --combine are comma-separated: "," in a name is refused the same way.
scoreCase(
  "a checkpoint folder whose name contains a comma",
  async (dir) => {
    await Deno.symlink(PICO_CHECKPOINT, `${dir}/a,b`);
    return ["--model", `${dir}/a,b`];
  },
  () => ['"a,b"', /contains ","/, /--models/, /rename/],
);

scoreCase(
  "a revision folder whose name contains a comma",
  async (dir) => {
    await Deno.mkdir(`${dir}/pico`);
    await Deno.symlink(PICO_CHECKPOINT, `${dir}/pico/step273,b`);
    return ["--model", `${dir}/pico`];
  },
  () => ['"step273,b"', /revision/, /contains ","/],
);

// --out: a path ending in .parquet, .csv or .jsonl is one results file; anything else a folder.
scoreCase(
  "--out names a .jsonl file but --format says csv",
  (dir) => ["--out", `${dir}/scores.jsonl`],
  (dir) => [`--out ${dir}/scores.jsonl`, "--format is csv"],
);

scoreCase(
  "--out names one results file but the run scores a whole suite",
  (dir) => ["--out", `${dir}/scores.csv`, "--model", `${FIXTURES}pico/models`],
  (dir) => [`--out ${dir}/scores.csv`, "12 checkpoints", /pass a folder/],
);

scoreCase(
  "--out names one results file but the run is a shard",
  (dir) => ["--out", `${dir}/scores.csv`, "--shard", "0/2"],
  (dir) => [`--out ${dir}/scores.csv`, "--shard"],
);

scoreCase(
  "--out names a results file where a folder of that name is",
  async (dir) => {
    await Deno.mkdir(`${dir}/scores.csv`);
    return ["--out", `${dir}/scores.csv`];
  },
  (dir) => [`--out ${dir}/scores.csv`, /folder of that name/],
);

scoreCase(
  "--out names an existing file that is no results file",
  async (dir) => {
    await Deno.writeTextFile(`${dir}/notes`, "mine\n");
    return ["--out", `${dir}/notes`];
  },
  (dir) => [`--out ${dir}/notes`, /is a file, not a folder/],
);

scoreCase(
  "--gpu-memory too small for one sequence: says it is the cap, not the GPU",
  () => ["--count", "4", "--gpu-memory", "0.0001"],
  () => [
    /one sequence needs \d+ B of GPU memory besides the weights, past the cap of 107374 B \(score --gpu-memory\); raise it/,
  ],
);

// ---------------------------------------------------------------------------------------------- empty flags

// An empty value (a variable that expanded to nothing) is refused: as a path it would name the current folder,
// where score would write its results and report replace the folder. Run in an empty folder that must stay so.
const picoRun = ["--model", PICO_CHECKPOINT, "--data", `${FIXTURES}pico/data/pico_document`, "--count", "4"];
for (
  const args of [
    ["score", ...picoRun, "--out", ""],
    ["score", "--model", PICO_CHECKPOINT, "--data="],
    ["merge", "--out", "", "a.shard-0-of-1.csv"],
    ["report", "--out", ""],
    ["report", "--results", "x.csv", "--results", ""],
  ]
) {
  const flag = args.findLast((a) => a.startsWith("--"))!.replace(/=$/, "");
  Deno.test(`${args[0]} ${flag} "": an empty flag value is refused`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "engram-empty-flag-" });
    try {
      await expectError(args, [`${args[0]}: ${flag} is empty`], { cwd: dir });
      assertEquals([...Deno.readDirSync(dir)], [], "nothing written in the current folder");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

// A comma-separated list with an empty item is refused, not read as a shorter list (",": no list at all). Run
// in an empty folder: no default --model, --results or --out there for a run that would go on.
for (
  const [args, item] of [
    [["report", "--combine", ","], 1],
    [["report", "--combine", "pico-1@step273,,pico-1@step546"], 2],
    [["score", "--models", "pico-1,"], 2],
  ] as const
) {
  Deno.test(`${args.join(" ")}: an empty item of the list is refused`, async () => {
    await withTempDir(async (dir) => {
      await expectError([...args], [`${args[1]} "${args[2]}": item ${item} is empty`], { cwd: dir });
    });
  });
}
