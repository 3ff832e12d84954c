// Which checkpoints a --model path names, in suites assembled from symbolic links (to model folders and to
// revision folders), as clusters often lay them out over shared storage.
import { findTokenizer, resolveCheckpoints } from "../io/checkpoints.ts";
import { PICO_TOKENIZER, picoPath } from "../io/pico.ts";
import { EngramError } from "../base/errors.ts";
import { assertEquals, assertRejects } from "./assert.ts";
import { PICO_MODELS, withTempDir } from "./helpers.ts";

const REVISIONS = ["step273", "step546", "step819", "step1092"];

Deno.test("a suite's symbolic links to model and revision folders are followed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-linked-suite-" });
  try {
    await Deno.symlink(`${PICO_MODELS}/pico-1`, `${dir}/pico-1`); // a model folder
    await Deno.mkdir(`${dir}/pico-2`);
    await Deno.symlink(`${PICO_MODELS}/pico-2/step1092`, `${dir}/pico-2/step1092`); // a revision folder
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a model\n");
    await Deno.symlink(`${dir}/notes.txt`, `${dir}/notes-link`); // a link to a file: not a model either
    const found = await resolveCheckpoints(dir);
    assertEquals(found.map((c) => `${c.model}@${c.revision}`), [
      ...REVISIONS.map((r) => `pico-1@${r}`),
      "pico-2@step1092",
    ]);
    assertEquals(found[0].dir, `${dir}/pico-1/step273`);
    // The model folder of revisions, through a link, too.
    assertEquals((await resolveCheckpoints(`${dir}/pico-2`)).map((c) => c.revision), ["step1092"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a folder of checkpoints named by model is that many models at main; stepN or main names revisions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-model-zoo-" });
  try {
    // models/pico-1, models/pico-2: checkpoints as the Hub downloads them (they were read as revisions of "models").
    await Deno.mkdir(`${dir}/models`);
    for (const m of ["pico-1", "pico-2"]) {
      await Deno.symlink(`${PICO_MODELS}/${m}/step1092`, `${dir}/models/${m}`);
    }
    const zoo = await resolveCheckpoints(`${dir}/models`);
    assertEquals(zoo.map((c) => `${c.model}@${c.revision}`), ["pico-1@main", "pico-2@main"]);
    assertEquals(zoo[1].dir, `${dir}/models/pico-2`);
    // A model folder whose revisions include main (or only main) stays one model.
    await Deno.mkdir(`${dir}/pico-3`);
    await Deno.symlink(`${PICO_MODELS}/pico-3/step1092`, `${dir}/pico-3/main`);
    await Deno.symlink(`${PICO_MODELS}/pico-3/step546`, `${dir}/pico-3/final`);
    assertEquals((await resolveCheckpoints(`${dir}/pico-3`)).map((c) => `${c.model}@${c.revision}`), [
      "pico-3@final",
      "pico-3@main",
    ]);
    assertEquals((await resolveCheckpoints(`${dir}/pico-3/main`)).map((c) => `${c.model}@${c.revision}`), [
      "pico-3@main",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--models and --revisions naming a checkpoint the suite lacks are refused, not dropped", async () => {
  const pick = (models?: string[], revisions?: string[]) =>
    resolveCheckpoints(PICO_MODELS, models, revisions).then((found) =>
      found.map((c) => `${c.model}@${c.revision}`)
    );
  assertEquals(await pick(["pico-1", "pico-3"], ["step1092"]), ["pico-1@step1092", "pico-3@step1092"]);
  await assertRejects(
    () => pick(["pico-1", "pico-9"], ["step1092"]),
    EngramError,
    `--models names pico-9, not in --model ${PICO_MODELS} (it has pico-1, pico-2, pico-3)`,
  );
  await assertRejects(
    () => pick(["pico-1"], ["step1092", "step9999", "main"]),
    EngramError,
    `--revisions names step9999, main, not in --model ${PICO_MODELS} (it has ${REVISIONS.join(", ")})`,
  );
});

Deno.test("--models × --revisions naming a pair one model lacks is refused, naming the pair", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/pico-1`);
    await Deno.mkdir(`${dir}/pico-2`);
    await Deno.symlink(`${PICO_MODELS}/pico-1/step1092`, `${dir}/pico-1/step1092`);
    await Deno.symlink(`${PICO_MODELS}/pico-1/step546`, `${dir}/pico-1/step546`);
    await Deno.symlink(`${PICO_MODELS}/pico-2/step1092`, `${dir}/pico-2/step1092`);
    const both = await resolveCheckpoints(dir, ["pico-1", "pico-2"], ["step1092"]);
    assertEquals(both.map((c) => `${c.model}@${c.revision}`), ["pico-1@step1092", "pico-2@step1092"]);
    await assertRejects(
      () => resolveCheckpoints(dir, ["pico-1", "pico-2"], ["step546", "step1092"]),
      EngramError,
      `--models and --revisions ask for pico-2@step546, not in --model ${dir}`,
    );
  });
});

Deno.test("--model naming a weights file, or nothing, is one line saying what to pass", async () => {
  const ckpt = `${PICO_MODELS}/pico-1/step1092`;
  await assertRejects(
    () => resolveCheckpoints(`${ckpt}/model.safetensors`),
    EngramError,
    `--model ${ckpt}/model.safetensors is a file; pass the checkpoint folder that holds it (${ckpt}, with config.json)`,
  );
  await assertRejects(
    () => resolveCheckpoints(`${ckpt}/gone`),
    EngramError,
    `--model ${ckpt}/gone: no such folder`,
  );
});

Deno.test("a broken symbolic link in a suite is one clear error naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-broken-link-" });
  try {
    await Deno.symlink(`${PICO_MODELS}/pico-1`, `${dir}/pico-1`);
    await Deno.symlink(`${dir}/gone`, `${dir}/pico-9`);
    await assertRejects(
      () => resolveCheckpoints(dir),
      EngramError,
      `${dir}/pico-9 is a broken symbolic link`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findTokenizer: the suite's tokenizer/ above a checkpoint; none where there is none", async () => {
  const found = await findTokenizer(`${PICO_MODELS}/pico-1/step273`);
  assertEquals(found, picoPath(`${PICO_TOKENIZER}/tokenizer.json`));
  const empty = await Deno.makeTempDir({ prefix: "engram-no-tokenizer-" });
  try {
    await Deno.mkdir(`${empty}/a/b/c/d`, { recursive: true });
    assertEquals(await findTokenizer(`${empty}/a/b/c/d`), null);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
