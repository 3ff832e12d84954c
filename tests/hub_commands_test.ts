// The huggingface_hub cache as logits/generate --model (one checkpoint: ORG/NAME or models--ORG--NAME at
// --revisions R, default main) and as report --models (the sizes' folder): each reads exactly what the plain
// folder gives, a snapshot holding only torch.save's pytorch_model.bin included; a missing revision is one line.
import { reportCommand } from "../cli/report.ts";
import { resolveOneCheckpoint } from "../io/checkpoints.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { engramLines, FIXTURES, PICO_MODELS, runCli, withTempDir } from "./helpers.ts";
import { addSnapshot, fakeCommit } from "./hub_tree.ts";

const TORCH_PICO = `${FIXTURES}torch/pico-1/step1092`;
const TOKENS = "5,17,3,99;8,8,40,2";

/** pico-1, pico-2 and pico-3 at every revision (main = step1092), and the torch.save pico-1
 * (pytorch_model.bin only) as engram-test/pico-1-bin at main. */
async function buildCache(cache: string): Promise<void> {
  for (const model of ["pico-1", "pico-2", "pico-3"]) {
    for (const revision of ["step273", "step546", "step819", "step1092"]) {
      await addSnapshot(
        cache,
        "model",
        `engram-test/${model}`,
        await fakeCommit(`${model}@${revision}`),
        `${PICO_MODELS}/${model}/${revision}`,
        revision === "step1092" ? [revision, "main"] : [revision],
      );
    }
  }
  await addSnapshot(cache, "model", "engram-test/pico-1-bin", await fakeCommit("bin"), TORCH_PICO, ["main"]);
}

/** `./engram <command> --model <model> --tokens TOKENS --format json [extra]` with the cache as $HF_HUB_CACHE. */
async function infer(command: string, model: string, cache: string, extra: string[] = []) {
  const out = await runCli([command, "--model", model, "--tokens", TOKENS, "--format", "json", ...extra], {
    env: { HF_HUB_CACHE: cache },
  });
  assertEquals(out.code, 0, `${command} --model ${model} ${extra.join(" ")}: ${out.stderr}`);
  return out.stdout;
}

Deno.test("hub cache: logits and generate read ORG/NAME and models--ORG--NAME at --revisions (default main) as the plain folder", async () => {
  await withTempDir(async (cache) => {
    await buildCache(cache);
    const repoDir = join(cache, "models--engram-test--pico-1");
    const plain1092 = await infer("logits", `${PICO_MODELS}/pico-1/step1092`, cache);
    const plain273 = await infer("logits", `${PICO_MODELS}/pico-1/step273`, cache);
    assert(plain1092 !== plain273, "the two revisions' logits differ, so the comparisons below can fail");
    assertEquals(await infer("logits", "engram-test/pico-1", cache), plain1092); // main = step1092
    assertEquals(await infer("logits", "engram-test/pico-1", cache, ["--revisions", "step273"]), plain273);
    assertEquals(await infer("logits", repoDir, cache, ["--revisions", "step273"]), plain273);
    // torch.save's pytorch_model.bin alone in a snapshot (links into blobs/ with no .bin in their names).
    assertEquals(
      await infer("logits", "engram-test/pico-1-bin", cache),
      await infer("logits", TORCH_PICO, cache),
    );
    const generated = await infer("generate", repoDir, cache, ["--max-new", "6"]);
    assertEquals(
      generated,
      await infer("generate", `${PICO_MODELS}/pico-1/step1092`, cache, ["--max-new", "6"]),
    );
    assertEquals(JSON.parse(generated).tokens.map((t: number[]) => t.length), [6, 6]);
  });
});

Deno.test("hub cache: a revision the repository lacks is one engram line, for logits and generate alike", async () => {
  await withTempDir(async (cache) => {
    await buildCache(cache);
    for (const command of ["logits", "generate"]) {
      const out = await runCli(
        [command, "--model", "engram-test/pico-1", "--revisions", "step9", "--tokens", TOKENS],
        { env: { HF_HUB_CACHE: cache } },
      );
      assert(out.code !== 0);
      const lines = engramLines(out.stderr);
      assertEquals(lines.length, 1, out.stderr);
      assert(/step9/.test(lines[0]) && /step273/.test(lines[0]), lines[0]);
    }
    // In process (no GPU): no main, several checkpoints, an id in no cache.
    await Deno.remove(join(cache, "models--engram-test--pico-1", "refs", "main"));
    const { withEnv } = await import("./hub_tree.ts");
    await withEnv({ HF_HUB_CACHE: cache }, async () => {
      await assertRejects(
        () => resolveOneCheckpoint("engram-test/pico-1"),
        EngramError,
        "has no revision main (it has step273, step546, step819, step1092); name one with --revisions R",
      );
      await assertRejects(
        () => resolveOneCheckpoint(cache),
        EngramError,
        "holds 3 checkpoints at main (pico-1-bin@main, pico-2@main, pico-3@main)",
      );
      await assertRejects(
        () => resolveOneCheckpoint("engram-test/pico-9"),
        EngramError,
        "models--engram-test--pico-9",
      );
      await assertRejects(
        () => resolveOneCheckpoint("engram-test/pico-1", "step273,step1092"),
        EngramError,
        "name one revision",
      );
      assertEquals(
        await resolveOneCheckpoint("engram-test/pico-1", "step273"),
        join(cache, "models--engram-test--pico-1", "snapshots", await fakeCommit("pico-1@step273")),
      );
    });
  });
});

Deno.test("hub cache: report --models reads the sizes from the cache folder and ORG/NAME as from the plain folder", async () => {
  await withTempDir(async (dir) => {
    const cache = join(dir, "cache");
    await buildCache(cache);
    const reference = "fixtures/pico/reference/scores-pico-1-2-3.csv";
    const sizes = async (models: string, out: string) => {
      const log = console.log;
      console.log = () => {};
      try {
        const { withEnv } = await import("./hub_tree.ts");
        await withEnv(
          { HF_HUB_CACHE: cache },
          () =>
            reportCommand(["--results", reference, "--models", models, "--no-text-features", "--out", out]),
        );
      } finally {
        console.log = log;
      }
      const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
      return report.sources.map((s: { source: string; params: number | null; params_from: string }) =>
        `${s.source} ${s.params} ${s.params_from}`
      ) as string[];
    };
    const plain = await sizes(PICO_MODELS, join(dir, "plain"));
    assert(plain.length > 0 && plain.every((l) => l.endsWith(" config.json")), plain.join("\n"));
    assertEquals(await sizes(cache, join(dir, "root")), plain);
    // One repository: its model's sizes come from the cache, the others' from their names or not at all.
    const one = await sizes("engram-test/pico-2", join(dir, "one"));
    assertEquals(one.filter((l) => l.startsWith("pico-2@")), plain.filter((l) => l.startsWith("pico-2@")));
    assert(one.some((l) => l.startsWith("pico-1@") && !l.endsWith(" config.json")));
  });
});
