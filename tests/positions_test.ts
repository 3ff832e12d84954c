// The rotary table covers the positions a run uses (prompt + continuation), not max_position_embeddings: a
// config that allows 5e7 or 1e12 positions loads and scores like the same model with 128, and a run that asks
// for more positions than any GPU holds gets one engram: line.
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { Decoder } from "../engine/decoder.ts";
import { assert, assertEquals } from "./assert.ts";
import { engramLines, runCli } from "./helpers.ts";

const GOLDEN = new URL("../fixtures/golden/neox-parallel/float32/", import.meta.url).pathname;

/** A copy of the golden model whose config.json allows `positions` positions. */
async function withPositions(positions: number): Promise<string> {
  const dir = await Deno.makeTempDir();
  const cfg = JSON.parse(await Deno.readTextFile(`${GOLDEN}config.json`));
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...cfg, max_position_embeddings: positions }),
  );
  await Deno.copyFile(`${GOLDEN}model.safetensors`, `${dir}/model.safetensors`);
  return dir;
}

async function logits(gpu: Gpu, dir: string): Promise<Float32Array> {
  const model = await NeoXModel.load(gpu, dir);
  const decoder = await Decoder.create(model, { batch: 2, prompt: 40, cont: 0, logits: true });
  const tokens = Uint32Array.from({ length: 80 }, (_, i) => (i * 37) % 512);
  const out = await decoder.logits(tokens, 2, 40);
  decoder.destroy();
  model.destroy();
  return out;
}

Deno.test("max_position_embeddings of 5e7 or 1e12 costs nothing and changes no logit", async () => {
  const gpu = await Gpu.open();
  try {
    const want = await logits(gpu, GOLDEN);
    for (const positions of [5e7, 1e12]) {
      const dir = await withPositions(positions);
      const before = Deno.memoryUsage().rss;
      assertEquals(await logits(gpu, dir), want, `max_position_embeddings ${positions}`);
      const grown = Deno.memoryUsage().rss - before;
      assert(grown < 256 * 2 ** 20, `memory grew by ${grown} bytes for ${positions} positions`);
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    gpu.destroy();
  }
});

Deno.test("a prompt of a billion positions is one engram: line, not an internal error", async () => {
  const dir = await withPositions(1e12);
  const { code, stderr } = await runCli(["score", "--model", dir, "--prompt", "1000000000", "--count", "1"]);
  assertEquals(code, 1, stderr);
  const lines = engramLines(stderr);
  assertEquals(lines.length, 1, stderr);
  assert(lines[0].startsWith("engram: ") && !lines[0].includes("internal error"), lines[0]);
  await Deno.remove(dir, { recursive: true });
});
