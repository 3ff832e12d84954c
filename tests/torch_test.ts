// torch.save checkpoints (pytorch_model.bin, single or sharded) against the safetensors files they were made
// from (fixtures/torch/make.py, written by torch 1.13 and read back by torch.load): the same tensors byte for
// byte, the same logits bit for bit, the same scores through the score command; and the archives engram must
// refuse, each with one line, nothing in them run.
import { scoreCommand } from "../cli/score.ts";
import { checkpointFiles, CheckpointReader } from "../engine/checkpoint.ts";
import { loadConfig } from "../engine/config.ts";
import { Decoder } from "../engine/decoder.ts";
import { EngramError } from "../base/errors.ts";
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { basename, join } from "../base/path.ts";
import { unpickle, type UnpickleRules } from "../engine/pickle.ts";
import { isNeoXBuffer } from "../engine/tensors.ts";
import { mapNeoXTensors } from "../engine/weights.ts";
import { readResults } from "../io/results.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { engramLines, PICO_DATA, runCli, withTempDir } from "./helpers.ts";

const T = new URL("../fixtures/torch/", import.meta.url).pathname;
const F = new URL("../fixtures/", import.meta.url).pathname;
/** Each .bin fixture and the safetensors checkpoint it was made from. */
const PAIRS: [string, string][] = [
  [`${T}pico-1/step1092`, `${F}pico/models/pico-1/step1092`], // F16, U8 mask
  [`${T}golden-sharded`, `${F}golden/neox-parallel/bfloat16`], // BF16, shards, shared storage, zip64
  [`${T}buffers-bin`, `${F}golden/neox-parallel/float16`], // F16, BOOL mask, F16 masked_bias, newer records
  [`${T}buffers-safetensors`, `${F}golden/neox-parallel/float16`], // safetensors with U8 mask, F32 buffers
  [`${T}golden-f32`, `${F}golden/neox-sequential/float32`], // F32, lm_head.weight
];
// Where fixtures/torch/make.py's payloads would leave a trace if anything in them ran.
const MARKER = "/tmp/engram-torch-fixture-was-run";

async function withReader<T>(path: string, fn: (c: CheckpointReader) => Promise<T> | T): Promise<T> {
  const c = await CheckpointReader.open(path);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

Deno.test("every .bin fixture holds its source's tensors byte for byte, buffers left out", async () => {
  for (const [bin, source] of PAIRS) {
    await withReader(bin, (b) =>
      withReader(source, async (s) => {
        assertEquals(b.format, bin.endsWith("safetensors") ? "safetensors" : "pytorch", bin);
        assertEquals([...b.tensors.keys()].sort(), [...s.tensors.keys()].sort(), bin);
        for (const [name, t] of s.tensors) {
          const got = b.tensors.get(name)!;
          assertEquals([got.dtype, got.shape], [t.dtype, t.shape], `${bin}: ${name}`);
          assertEquals(await b.read(name), await s.read(name), `${bin}: ${name}`);
        }
        mapNeoXTensors(b, await loadConfig(bin));
      }));
  }
});

Deno.test("the fixtures are what they claim: buffers, shared storage, zip64 records, newer records", async () => {
  const zipNames = async (path: string) => {
    const text = new TextDecoder("latin1").decode(await Deno.readFile(path));
    return { text, has: (s: string) => text.includes(s) };
  };
  // The buffers are in the files (engram skips them by name, whatever their dtype).
  const pico = await zipNames(`${T}pico-1/step1092/pytorch_model.bin`);
  for (
    const s of [
      "gpt_neox.layers.1.attention.bias",
      "masked_bias",
      "rotary_emb.inv_freq",
      "torch\nByteStorage",
    ]
  ) {
    assert(pico.has(s), `pico-1 .bin lacks ${s}`);
  }
  assert(
    pico.has("pytorch_model/data.pkl") && !pico.has("archive/"),
    "the archive's folder is named after the file",
  );
  const st = await zipNames(`${T}buffers-safetensors/model.safetensors`);
  assert(
    st.has('"gpt_neox.layers.0.attention.bias":{"dtype":"U8","shape":[1,1,128,128]'),
    "U8 mask in safetensors",
  );
  const bin = await zipNames(`${T}buffers-bin/pytorch_model.bin`);
  for (const s of ["torch\nBoolStorage", "pytorch_model/byteorder", "pytorch_model/.data/serialization_id"]) {
    assert(bin.has(s), `buffers-bin lacks ${s}`);
  }
  // Shard 1: every tensor a view of one storage, at increasing offsets.
  await withReader(`${T}golden-sharded`, (c) => {
    const first = [...c.tensors.values()].filter((t) => t.file.endsWith("00001-of-00002.bin"));
    assert(first.length > 10);
    let end = first[0].start;
    for (const t of first) {
      assertEquals(t.start, end, `${t.name} follows the previous tensor in the shared storage`);
      end += t.byteLength;
    }
  });
  // Shard 2: the zip64 end record and locator, and every 32-bit size and offset at 0xFFFFFFFF.
  const z = await Deno.readFile(`${T}golden-sharded/pytorch_model-00002-of-00002.bin`);
  const v = new DataView(z.buffer);
  const eocd = z.length - 22;
  assertEquals(v.getUint32(eocd, true), 0x06054b50);
  assertEquals(v.getUint32(eocd + 16, true), 0xffffffff);
  assertEquals(v.getUint32(eocd - 20, true), 0x07064b50);
  assertEquals(v.getUint32(Number(v.getBigUint64(eocd - 12, true)), true), 0x06064b50);
  // buffers-bin: the zip64 end record, and each central header's offset moved to a zip64 extra field of its own
  // (id 1, 8 bytes), as torch writes entries that start past 4 GiB.
  const b = await Deno.readFile(`${T}buffers-bin/pytorch_model.bin`);
  assertEquals(new DataView(b.buffer).getUint32(b.length - 42, true), 0x07064b50);
  const offsetOnly = new TextDecoder("latin1").decode(b).split("\x01\x00\x08\x00").length - 1;
  assert(offsetOnly >= 28, `${offsetOnly} zip64 offset fields`);
});

// torch.save's data.pkl for {"gpt_neox.embed_in.weight": torch.arange(12, dtype=torch.float16).view(3, 4)}
// (torch 1.13), and its storage's 24 bytes.
const ARANGE_PKL =
  "800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158180000006770745f6e656f782e656d6265645f696e2e776569676874710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a48616c6653746f726167650a71055801000000307106580300000063707571074b0c747108514b004b034b048671094b044b0186710a8968002952710b74710c52710d732e";
const ARANGE_F16 = "0000003c0040004200440045004600470048804800498049";

Deno.test("a tensor past 4 GiB in a sparse zip64 archive is read by offset, the file never read whole", () =>
  withTempDir(async (d) => {
    // Laid out as torch writes an archive past 4 GiB: the storage's entry starts after 2^32 bytes (a hole here),
    // so its central header keeps the offset in a zip64 extra field, and the directory itself lies past 4 GiB.
    // CRCs are left 0: engram does not check them (that would read every byte); Python's zipfile lists this
    // archive with these offsets.
    const path = join(d, "pytorch_model.bin");
    const file = await Deno.open(path, { write: true, create: true });
    const enc = new TextEncoder();
    const entries: { name: Uint8Array; data: Uint8Array; at: number }[] = [];
    let pos = 0;
    const write = async (bytes: Uint8Array) => {
      await file.seek(pos, Deno.SeekMode.Start);
      for (let o = 0; o < bytes.length;) o += await file.write(bytes.subarray(o));
      pos += bytes.length;
    };
    const le = (...fields: [number, 2 | 4 | 8][]) => {
      const b = new Uint8Array(fields.reduce((n, [, w]) => n + w, 0)), v = new DataView(b.buffer);
      let o = 0;
      for (const [x, w] of fields) {
        if (w === 2) v.setUint16(o, x, true);
        else if (w === 4) v.setUint32(o, x, true);
        else v.setBigUint64(o, BigInt(x), true);
        o += w;
      }
      return b;
    };
    for (
      const [name, data, at] of [["big/data.pkl", hex(ARANGE_PKL), 0], [
        "big/data/0",
        hex(ARANGE_F16),
        2 ** 32 + 100,
      ], [
        "big/version",
        enc.encode("3\n"),
        -1,
      ]] as const
    ) {
      if (at >= 0) pos = at;
      const n = enc.encode(name);
      entries.push({ name: n, data, at: pos });
      await write(le(
        [0x04034b50, 4],
        [45, 2],
        [0, 2],
        [0, 2],
        [0, 2],
        [0, 2],
        [0, 4],
        [data.length, 4],
        [
          data.length,
          4,
        ],
        [n.length, 2],
        [0, 2],
      ));
      await write(n);
      await write(data);
    }
    const cdAt = pos;
    for (const e of entries) {
      const wide = e.at >= 2 ** 32;
      const extra = wide ? le([1, 2], [8, 2], [e.at, 8]) : new Uint8Array(0);
      await write(
        le(
          [0x02014b50, 4],
          [45, 2],
          [45, 2],
          [0, 2],
          [0, 2],
          [0, 2],
          [0, 2],
          [0, 4],
          [e.data.length, 4],
          [
            e.data.length,
            4,
          ],
          [e.name.length, 2],
          [extra.length, 2],
          [0, 2],
          [0, 2],
          [0, 2],
          [0, 4],
          [wide ? 0xffffffff : e.at, 4],
        ),
      );
      await write(e.name);
      await write(extra);
    }
    const cdSize = pos - cdAt, z64At = pos;
    await write(
      le([0x06064b50, 4], [44, 8], [45, 2], [45, 2], [0, 4], [0, 4], [3, 8], [3, 8], [cdSize, 8], [cdAt, 8]),
    );
    await write(le([0x07064b50, 4], [0, 4], [z64At, 8], [1, 4]));
    await write(le([0x06054b50, 4], [0, 2], [0, 2], [3, 2], [3, 2], [cdSize, 4], [0xffffffff, 4], [0, 2]));
    file.close();
    await withReader(path, async (c) => {
      const t = c.tensors.get("gpt_neox.embed_in.weight")!;
      assertEquals([t.dtype, t.shape, t.start, t.byteLength], ["F16", [3, 4], 2 ** 32 + 100 + 30 + 10, 24]);
      assertEquals(await c.read(t.name), hex(ARANGE_F16));
    });
  }));

Deno.test("checkpointFiles finds pytorch_model.bin and its shards, and prefers safetensors beside them", async () => {
  const one = await checkpointFiles(`${T}pico-1/step1092`);
  assertEquals([one.format, one.files.map((f) => basename(f)), one.weightMap], ["pytorch", [
    "pytorch_model.bin",
  ], null]);
  const sharded = await checkpointFiles(`${T}golden-sharded`);
  assertEquals(sharded.files.map((f) => basename(f)).sort(), [
    "pytorch_model-00001-of-00002.bin",
    "pytorch_model-00002-of-00002.bin",
  ]);
  assertEquals(sharded.format, "pytorch");
  assertEquals((await checkpointFiles(`${T}golden-f32/pytorch_model.bin`)).format, "pytorch");
  await withTempDir(async (d) => {
    for (const f of ["config.json", "pytorch_model.bin"]) {
      await Deno.copyFile(`${T}buffers-bin/${f}`, join(d, f));
    }
    await Deno.copyFile(`${F}golden/neox-parallel/float16/model.safetensors`, join(d, "model.safetensors"));
    const both = await checkpointFiles(d);
    assertEquals([both.format, both.files], ["safetensors", [join(d, "model.safetensors")]]);
  });
});

const gpu = await Gpu.open();

async function logits(dir: string): Promise<Float32Array> {
  const model = await NeoXModel.load(gpu, dir);
  const decoder = await Decoder.create(model, { batch: 2, prompt: 24, cont: 0, logits: true });
  const tokens = Uint32Array.from({ length: 48 }, (_, i) => (i * 37 + 11) % model.cfg.vocabSize);
  const out = await decoder.logits(tokens, 2, 24);
  decoder.destroy();
  model.destroy();
  return out;
}

Deno.test("a model loaded from .bin gives bit-identical logits to its safetensors source", async () => {
  for (const [bin, source] of PAIRS.slice(1)) {
    const [a, b] = [await logits(bin), await logits(source)];
    assert(a.some((x) => x !== 0));
    assertEquals(new Uint32Array(a.buffer), new Uint32Array(b.buffer), bin);
  }
});

Deno.test("score --model on a pytorch_model.bin writes the same scores as on its safetensors source", () =>
  withTempDir(async (d) => {
    const run = (model: string, out: string) =>
      scoreCommand([
        "--model",
        model,
        "--data",
        PICO_DATA,
        "--count",
        "96",
        "--logprob",
        "--out",
        join(d, out),
        "--quiet",
      ], gpu);
    await run(PAIRS[0][0], "bin");
    await run(PAIRS[0][1], "st");
    const [a, b] = [
      (await readResults(join(d, "bin", "pico-1@step1092.parquet"))).table,
      (await readResults(join(d, "st", "pico-1@step1092.parquet"))).table,
    ];
    assertEquals(a.index.length, 96);
    assertEquals(a.matches, b.matches);
    assertEquals(a.firstMismatch, b.firstMismatch);
    assertEquals(a.logprob, b.logprob);
    assert(new Set(a.matches).size > 5, "the rows' scores differ, so equal columns say something");
  }));

/** Opening `path` is one EngramError line holding every one of `parts`; nothing the payload does happened. */
async function refused(path: string, ...parts: string[]) {
  await Deno.remove(MARKER).catch(() => {});
  const e = await assertRejects(() => CheckpointReader.open(path), EngramError);
  assert(!e.message.includes("\n"), `one line: ${e.message}`);
  for (const p of [basename(path), ...parts]) {
    assert(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
  }
  assert(!(await Deno.stat(MARKER).catch(() => null)), "the payload ran");
}

Deno.test("pickles that would run code are refused by name, nothing run", async () => {
  await refused(
    `${T}bad/posix_system.bin`,
    "data.pkl names posix.system",
    "nothing in it was run",
    "malicious",
  );
  await refused(`${T}bad/builtins_eval.bin`, "names builtins.eval", "malicious");
  await refused(`${T}bad/unknown_class.bin`, "names torch.nn.modules.linear.Linear");
  await refused(`${T}bad/inst.bin`, "opcode INST (os.system)", "nothing was run", "malicious");
  // A name with a control character stays on one line (the reader checks no CRCs, so the bytes can be edited).
  await withTempDir(async (d) => {
    const data = await Deno.readFile(`${T}bad/posix_system.bin`);
    const text = new TextDecoder("latin1").decode(data), at = text.indexOf("posix\nsystem");
    assert(at > 0);
    data[at + 3] = 0x0d;
    await Deno.writeFile(join(d, "cr.bin"), data);
    const e = await assertRejects(() => CheckpointReader.open(join(d, "cr.bin")), EngramError);
    assert(e.message.includes("names pos?x.system") && !/[\r\n]/.test(e.message), e.message);
  });
});

Deno.test("score on a folder whose pytorch_model.bin would run code: one engram line, non-zero exit, nothing written", () =>
  withTempDir(async (d) => {
    await Deno.remove(MARKER).catch(() => {});
    const ckpt = join(d, "model", "step1");
    await Deno.mkdir(ckpt, { recursive: true });
    await Deno.copyFile(`${T}buffers-bin/config.json`, join(ckpt, "config.json"));
    await Deno.copyFile(`${T}bad/posix_system.bin`, join(ckpt, "pytorch_model.bin"));
    const out = join(d, "out");
    const r = await runCli(["score", "--model", ckpt, "--data", PICO_DATA, "--count", "4", "--out", out]);
    assert(r.code !== 0, "non-zero exit");
    const lines = engramLines(r.stderr);
    assertEquals(lines.length, 1, r.stderr);
    assert(lines[0].startsWith("engram: ") && lines[0].includes("posix.system"), lines[0]);
    assert(!(await Deno.stat(MARKER).catch(() => null)), "the payload ran");
    const written = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
    assertEquals(written.filter((e) => /\.(parquet|csv|jsonl)$/.test(e.name)), [], "no results file");
  }));

Deno.test("legacy, truncated, compressed, big-endian, non-contiguous and int64 archives: one line each", async () => {
  await refused(`${T}bad/legacy.bin`, "legacy torch.save file", "torch ≥ 1.6", "safetensors");
  await refused(`${T}bad/truncated.bin`, "end-of-central-directory", "truncated");
  await refused(`${T}bad/compressed.bin`, "whole/data.pkl is compressed", "stored entries");
  await refused(`${T}bad/big_endian.bin`, "big-endian");
  await refused(`${T}bad/noncontiguous.bin`, "gpt_neox.embed_in.weight is not contiguous", "[4,3]", "[1,4]");
  await refused(`${T}bad/int64.bin`, "tensor gpt_neox.embed_in.weight has dtype I64", "F32, F16 and BF16");
  await withTempDir(async (d) => {
    const data = await Deno.readFile(`${T}golden-f32/pytorch_model.bin`);
    await Deno.writeFile(join(d, "pytorch_model.bin"), data.subarray(0, data.length - 300));
    await refused(join(d, "pytorch_model.bin"), "truncated");
    await Deno.writeFile(join(d, "empty.bin"), new Uint8Array(0));
    await refused(join(d, "empty.bin"), "not a torch.save zip archive");
  });
});

Deno.test("an index naming a missing shard is one line; a folder with no weights names all four layouts", () =>
  withTempDir(async (d) => {
    for (const f of ["config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin"]) {
      await Deno.copyFile(`${T}golden-sharded/${f}`, join(d, f));
    }
    await refused(
      d,
      "pytorch_model.bin.index.json",
      "pytorch_model-00002-of-00002.bin",
      "download all shards",
    );
    await Deno.remove(join(d, "pytorch_model.bin.index.json"));
    await refused(
      d,
      "model.safetensors",
      "model.safetensors.index.json",
      "pytorch_model.bin or pytorch_model.bin.index.json",
    );
  }));

// The unpickler alone, on pickles written here byte by byte or by Python (hex below).
const RULES: UnpickleRules = {
  global: (m, n) => {
    throw new EngramError(`global ${m}.${n}`);
  },
  reduce: () => {
    throw new EngramError("reduce");
  },
  build: () => {
    throw new EngramError("build");
  },
  persistentLoad: () => {
    throw new EngramError("persid");
  },
};
const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

Deno.test("unpickle reads protocol 4 data: ints of every width, floats, strings, bytes, tuples, memo", () => {
  // pickle.dumps({'a': [1, 2**40, -5, -(2**33), 1.5, 'é', b'xy', (1,2,3), True, None, 70000, -1]}, protocol=4)
  const p = hex(
    "80049549000000000000007d948c0161945d94284b018a060000000000014afbffffff8a0500000000fe473ff80000000000008c02c3a99443027879944b014b024b038794884e4a701101004affffffff65732e",
  );
  const v = unpickle(p, RULES, "test", "fix") as Map<string, unknown[]>;
  assertEquals(v.get("a"), [
    1,
    2 ** 40,
    -5,
    -(2 ** 33),
    1.5,
    "é",
    new Uint8Array([120, 121]),
    [1, 2, 3],
    true,
    null,
    70000,
    -1,
  ]);
});

Deno.test("unpickle refuses code-running opcodes and malformed pickles in one line", () => {
  const fails = (p: Uint8Array, ...parts: string[]) => {
    const e = assertThrows(() => unpickle(p, RULES, "x.bin", "fix it"), EngramError);
    assert(!e.message.includes("\n"));
    for (const s of parts) {
      assert(e.message.includes(s), `${JSON.stringify(e.message)} lacks ${JSON.stringify(s)}`);
    }
  };
  fails(bytes("\x80\x02cos\nsystem\n."), "global os.system"); // the rules decide on every global
  fails(bytes("\x80\x04\x8c\x08builtins\x8c\x04exec\x93."), "global builtins.exec"); // STACK_GLOBAL too
  fails(
    bytes("\x80\x02(X\x01\x00\x00\x00aios\nsystem\n."),
    "INST (os.system)",
    "nothing was run",
    "malicious",
  );
  fails(bytes("\x80\x02(N)o."), "opcode OBJ", "nothing was run");
  fails(bytes("\x80\x02N)\x81."), "opcode NEWOBJ");
  fails(bytes("\x80\x02\x82\x01."), "opcode EXT1");
  fails(bytes("\x80\x02]N\x85R."), "reduce"); // REDUCE goes to the rules
  fails(bytes("\x80\x02]}b."), "build"); // so does BUILD
  fails(bytes("\x80\x02X\x01\x00\x00\x00aQ."), "persid");
  fails(bytes("\x80\x02]q\x00"), "ends before STOP", "fix it");
  fails(bytes("\x80\x02X\xff\x00\x00\x00ab."), "truncated");
  fails(bytes("\x80\x02h\x05."), "memo 5");
  fails(bytes("\x80\x020."), "empty stack");
  fails(bytes("\x80\x02S'a'\n."), "opcode 0x53");
});

Deno.test("isNeoXBuffer names Pythia's buffers only", () => {
  for (
    const n of [
      "gpt_neox.layers.3.attention.bias",
      "layers.0.attention.masked_bias",
      "gpt_neox.layers.0.attention.rotary_emb.inv_freq",
    ]
  ) {
    assert(isNeoXBuffer(n), n);
  }
  for (
    const n of ["gpt_neox.layers.0.attention.dense.bias", "gpt_neox.layers.0.attention.query_key_value.bias"]
  ) {
    assert(!isNeoXBuffer(n), n);
  }
});
