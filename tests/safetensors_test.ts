// Checkpoint files (engine/checkpoint.ts, engine/tensors.ts): safetensors single and sharded, F32/F16/BF16
// widened exactly, non-finite values found, and bad files refused with one line.
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { CheckpointReader } from "../engine/checkpoint.ts";
import { type DType, firstNonFinite, toFloat32, valueAt } from "../engine/tensors.ts";
import { assert, assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "./assert.ts";

const GOLDEN = ["neox-parallel", "neox-sequential"].flatMap((v) =>
  ["float32", "float16", "bfloat16"].map((d) => `fixtures/golden/${v}/${d}`)
);
const PICO = "fixtures/pico/models/pico-1/step273";
const DTYPES: Record<string, DType> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

/** Writes a safetensors file from a header (object or raw text) and `data`; headerLen overrides the length field. */
async function writeSt(path: string, header: unknown, data: Uint8Array | number = 0, headerLen?: number) {
  const h = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const d = typeof data === "number" ? new Uint8Array(data) : data;
  const buf = new Uint8Array(8 + h.length + d.length);
  new DataView(buf.buffer).setBigUint64(0, BigInt(headerLen ?? h.length), true);
  buf.set(h, 8);
  buf.set(d, 8 + h.length);
  await Deno.writeFile(path, buf);
  return path;
}

async function withCkpt<T>(path: string, fn: (c: CheckpointReader) => Promise<T> | T): Promise<T> {
  const c = await CheckpointReader.open(path);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

Deno.test("opens every fixture with the expected tensors, shapes and dtypes", async () => {
  for (const dir of [...GOLDEN, PICO]) {
    const cfg = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
    await withCkpt(dir, async (c) => {
      assertEquals(c.dir, dir);
      assertEquals(c.tensors.size, 4 + 12 * cfg.num_hidden_layers, dir);
      for (const t of c.tensors.values()) assertEquals(t.dtype, DTYPES[cfg.torch_dtype], t.name);
      const h = cfg.hidden_size;
      assertEquals(c.tensors.get("gpt_neox.embed_in.weight")?.shape, [cfg.vocab_size, h]);
      assertEquals(c.tensors.get("gpt_neox.layers.0.attention.query_key_value.weight")?.shape, [3 * h, h]);
      assertEquals(c.tensors.get("gpt_neox.layers.1.mlp.dense_4h_to_h.weight")?.shape, [
        h,
        cfg.intermediate_size,
      ]);
      const ln = await c.read("gpt_neox.final_layer_norm.weight");
      assertEquals(ln.length, h * (cfg.torch_dtype === "float32" ? 4 : 2));
      const w = toFloat32(ln, c.tensors.get("gpt_neox.final_layer_norm.weight")!.dtype);
      assert(w.every((x) => Number.isFinite(x) && Math.abs(x) < 10), `${dir}: implausible norm weights`);
    });
  }
  // A path to the file itself works too; dir is then its directory.
  await withCkpt(`${PICO}/model.safetensors`, (c) => assertEquals(c.dir, PICO));
});

/** f32 → bf16 with round-to-nearest-even, done on the bits (independent of toFloat32). */
function bf16Round(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  const r = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(new Uint32Array([r]).buffer)[0];
}

Deno.test("toFloat32 widens BF16 and F16 consistently with the F32 golden weights", async () => {
  for (const v of ["neox-parallel", "neox-sequential"]) {
    await withCkpt(`fixtures/golden/${v}/float32`, async (f32) => {
      await withCkpt(`fixtures/golden/${v}/bfloat16`, async (bf) => {
        await withCkpt(`fixtures/golden/${v}/float16`, async (hf) => {
          for (
            const name of [
              "gpt_neox.final_layer_norm.weight",
              "gpt_neox.layers.0.attention.query_key_value.bias",
            ]
          ) {
            const ref = toFloat32(await f32.read(name), "F32");
            assertEquals(toFloat32(await bf.read(name), "BF16"), ref.map(bf16Round), name);
            const half = toFloat32(await hf.read(name), "F16");
            // f16 rounding error is at most half an ulp: 2^-11 relative for normal values.
            ref.forEach((x, i) => assertAlmostEquals(half[i], x, Math.abs(x) * 2 ** -11 + 2 ** -25, name));
          }
        });
      });
    });
  }
});

Deno.test("toFloat32 decodes special F16/BF16 values and unaligned slices", () => {
  const halves = new Uint8Array(
    new Uint16Array([0x3c00, 0xc000, 0x0001, 0x0400, 0x7bff, 0x7c00, 0x8000, 0x7e00]).buffer,
  );
  const got = toFloat32(halves, "F16");
  assertEquals([...got.subarray(0, 7)], [1, -2, 2 ** -24, 2 ** -14, 65504, Infinity, -0]);
  assert(Number.isNaN(got[7]));
  assertEquals([...toFloat32(new Uint8Array([0x80, 0x3f, 0xc0, 0xbf]), "BF16")], [1, -1.5]);
  const f32 = new Float32Array([1.5, -3.25, 1e-30]);
  const odd = new Uint8Array(13);
  odd.set(new Uint8Array(f32.buffer), 1);
  assertEquals(toFloat32(odd.subarray(1), "F32"), f32);
  odd.set(halves.subarray(0, 4), 1);
  assertEquals([...toFloat32(odd.subarray(1, 5), "F16")], [1, -2]);
  assertThrows(() => toFloat32(new Uint8Array(3), "F16"), EngramError, "not a whole number");
});

Deno.test("firstNonFinite finds the first NaN or ±Infinity of F32, F16 and BF16, at any place and alignment", () => {
  // Bit patterns: [finite extremes and a subnormal], [NaN, +Inf, -Inf].
  const patterns: Record<DType, { finite: number[]; bad: number[]; size: number }> = {
    F32: {
      finite: [0x7f7fffff, 0xff7fffff, 0x00000001, 0x80000000],
      bad: [0x7fc00000, 0x7f800000, 0xff800000, 0x7f800001],
      size: 4,
    },
    F16: { finite: [0x7bff, 0xfbff, 0x0001, 0x8000], bad: [0x7e00, 0x7c00, 0xfc00, 0x7c01], size: 2 },
    BF16: { finite: [0x7f7f, 0xff7f, 0x0001, 0x8000], bad: [0x7fc0, 0x7f80, 0xff80, 0x7f81], size: 2 },
  };
  for (const [dtype, p] of Object.entries(patterns) as [DType, typeof patterns.F32][]) {
    for (const n of [1, 2, 3, 8, 9]) {
      for (const shift of [0, 1, 2]) {
        const bytes = (at: number, bad: number) => {
          const buffer = new Uint8Array(shift + n * p.size), view = new DataView(buffer.buffer, shift);
          for (let i = 0; i < n; i++) {
            const v = i === at ? bad : p.finite[i % p.finite.length];
            if (p.size === 4) view.setUint32(i * 4, v, true);
            else view.setUint16(i * 2, v, true);
          }
          return buffer.subarray(shift);
        };
        assertEquals(firstNonFinite(bytes(-1, 0), dtype), -1, `${dtype} ${n} finite, shift ${shift}`);
        for (let at = 0; at < n; at++) {
          for (const bad of p.bad) {
            const b = bytes(at, bad);
            assertEquals(firstNonFinite(b, dtype), at, `${dtype} ${bad.toString(16)} at ${at} of ${n}`);
            // The value named is the one toFloat32 reads there.
            assert(!Number.isFinite(toFloat32(b, dtype)[at]));
            assertEquals(
              valueAt(b, dtype, at),
              String(toFloat32(b, dtype)[at]).replace(/^Infinity$/, "+Infinity"),
            );
          }
        }
      }
    }
  }
});

Deno.test("sharded checkpoint reads back byte-identical to the single file", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await withCkpt("fixtures/golden/neox-parallel/float32", async (src) => {
      const names = [...src.tensors.keys()];
      const shards = [names.slice(0, 10), names.slice(10)];
      const weightMap: Record<string, string> = {};
      for (const [i, part] of shards.entries()) {
        const file = `model-0000${i + 1}-of-00002.safetensors`;
        const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
        const chunks: Uint8Array[] = [];
        let off = 0;
        for (const n of part.reverse()) { // reversed order: offsets differ from the source file
          const t = src.tensors.get(n)!;
          chunks.push(await src.read(n));
          header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.byteLength] };
          off += t.byteLength;
          weightMap[n] = file;
        }
        const data = new Uint8Array(off);
        chunks.reduce((o, c) => (data.set(c, o), o + c.length), 0);
        await writeSt(join(tmp, file), header, data);
      }
      await Deno.writeTextFile(
        join(tmp, "model.safetensors.index.json"),
        JSON.stringify({ weight_map: weightMap }),
      );
      await withCkpt(tmp, async (c) => {
        assertEquals(c.tensors.size, names.length);
        // Concurrent reads share one handle per shard and must not interleave.
        const all = await Promise.all(names.map((n) => c.read(n)));
        for (const [i, n] of names.entries()) {
          assertEquals(all[i], await src.read(n), n);
          assertEquals(c.tensors.get(n)!.shape, src.tensors.get(n)!.shape);
        }
      });
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** Runs `fn` with a fresh temp dir, removed afterwards. */
async function inTmp(fn: (dir: string) => Promise<void>) {
  const tmp = await Deno.makeTempDir();
  try {
    await fn(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

const T = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

async function rejectsOpen(path: string, ...parts: string[]) {
  const e = await assertRejects(() => CheckpointReader.open(path), EngramError);
  assert(!e.message.includes("\n"), "message must be one line");
  for (const p of parts) {
    assert(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
  }
}

Deno.test("bad file: truncated below 8 bytes", () =>
  inTmp(async (d) => {
    await Deno.writeFile(join(d, "model.safetensors"), new Uint8Array(5));
    await rejectsOpen(d, "model.safetensors", "truncated");
  }));

Deno.test("bad file: header length past end of file, and above the cap", () =>
  inTmp(async (d) => {
    await rejectsOpen(await writeSt(join(d, "a.safetensors"), {}, 0, 5000), "a.safetensors", "past the end");
    await rejectsOpen(await writeSt(join(d, "b.safetensors"), {}, 0, 2 ** 40), "b.safetensors", "100 MB");
  }));

Deno.test("bad file: invalid JSON header", () =>
  inTmp(async (d) =>
    rejectsOpen(
      await writeSt(join(d, "model.safetensors"), '{"a": [1,'),
      "model.safetensors",
      "not valid JSON",
    )
  ));

Deno.test("bad file: unknown dtype names tensor and dtype", () =>
  inTmp(async (d) => {
    const p = await writeSt(join(d, "model.safetensors"), { x: T("I8", [4], 0, 4) }, 4);
    await rejectsOpen(p, "tensor x", "I8", "F32, F16 and BF16");
  }));

Deno.test("bad file: shape × element size differs from the byte span", () =>
  inTmp(async (d) => {
    const p = await writeSt(join(d, "model.safetensors"), { w: T("F16", [3, 4], 0, 20) }, 24);
    await rejectsOpen(p, "tensor w", "[3,4]", "24 bytes", "span 20 bytes");
  }));

Deno.test("bad file: overlapping spans", () =>
  inTmp(async (d) => {
    const p = await writeSt(join(d, "model.safetensors"), {
      a: T("F32", [4], 0, 16),
      b: T("F32", [2], 8, 16),
    }, 16);
    await rejectsOpen(p, "tensors a", "and b", "overlap");
  }));

Deno.test("bad file: span past the data section (truncated)", () =>
  inTmp(async (d) => {
    const p = await writeSt(join(d, "model.safetensors"), { a: T("F32", [8], 0, 32) }, 20);
    await rejectsOpen(p, "tensor a", "only 20 bytes", "truncated");
  }));

Deno.test("bad file: entry missing fields or of wrong types", () =>
  inTmp(async (d) => {
    for (
      const entry of [{ dtype: "F32", shape: [1] }, { dtype: "F32", shape: "1", data_offsets: [0, 4] }, 7]
    ) {
      await rejectsOpen(
        await writeSt(join(d, "m.safetensors"), { q: entry }, 4),
        "m.safetensors",
        "tensor q",
        "data_offsets",
      );
    }
  }));

Deno.test("bad directory: neither model.safetensors nor index", () =>
  inTmp((d) =>
    rejectsOpen(
      d,
      d,
      "model.safetensors",
      "model.safetensors.index.json",
      "pytorch_model.bin",
      "bin.index.json",
    )
  ));

Deno.test("Pythia's buffers are skipped by name whatever their dtype; another tensor of that dtype is refused", () =>
  inTmp(async (d) => {
    const p = await writeSt(join(d, "model.safetensors"), {
      "gpt_neox.layers.0.attention.bias": T("U8", [1, 1, 4, 4], 0, 16),
      "gpt_neox.layers.1.attention.bias": T("BOOL", [1, 1, 4, 4], 16, 32),
      "gpt_neox.layers.0.attention.masked_bias": T("F32", [], 32, 36),
      "gpt_neox.layers.1.attention.masked_bias": T("F16", [], 36, 38),
      "gpt_neox.layers.0.attention.rotary_emb.inv_freq": T("F32", [2], 38, 46),
      "gpt_neox.final_layer_norm.weight": T("F32", [2], 46, 54),
    }, 54);
    await withCkpt(p, (c) => assertEquals([...c.tensors.keys()], ["gpt_neox.final_layer_norm.weight"]));
    // Their byte spans are still checked.
    await writeSt(p, { "gpt_neox.layers.0.attention.bias": T("U8", [1, 1, 4, 4], 0, 15) }, 15);
    await rejectsOpen(p, "gpt_neox.layers.0.attention.bias", "span 15 bytes");
    await writeSt(p, { "gpt_neox.layers.0.attention.mask": T("U8", [4], 0, 4) }, 4);
    await rejectsOpen(p, "tensor gpt_neox.layers.0.attention.mask has dtype U8", "F32, F16 and BF16");
  }));

Deno.test("bad index: invalid, missing shard, tensor in two shards, wrong shard", () =>
  inTmp(async (d) => {
    const index = join(d, "model.safetensors.index.json");
    await Deno.writeTextFile(index, "{oops");
    await rejectsOpen(d, "index.json", "not valid JSON");
    await Deno.writeTextFile(index, JSON.stringify({ weight_map: [] }));
    await rejectsOpen(d, "index.json", "weight_map");
    await writeSt(join(d, "s1.safetensors"), { a: T("F32", [1], 0, 4), b: T("F32", [1], 4, 8) }, 8);
    await Deno.writeTextFile(
      index,
      JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s2.safetensors" } }),
    );
    await rejectsOpen(d, "index.json", "puts b in s2.safetensors", "missing");
    await writeSt(join(d, "s2.safetensors"), { b: T("F32", [1], 0, 4) }, 4);
    await rejectsOpen(d, "tensor b", "s1.safetensors", "s2.safetensors");
    await writeSt(join(d, "s1.safetensors"), { a: T("F32", [1], 0, 4) }, 4);
    await Deno.writeTextFile(
      index,
      JSON.stringify({ weight_map: { a: "s2.safetensors", b: "s2.safetensors" } }),
    );
    await rejectsOpen(d, "puts a in s2.safetensors", "does not contain it");
  }));

Deno.test("read of an unknown tensor is an EngramError", async () => {
  await withCkpt(PICO, (c) => assertRejects(() => c.read("nope"), EngramError, "no tensor nope"));
});
