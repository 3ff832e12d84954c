// The huggingface_hub cache as --model, --data and --results: a repository folder (models--ORG--NAME, its refs
// the revisions), the cache root (a suite of the repositories' names), a snapshot, and ORG/NAME looked up in
// $HF_HUB_CACHE / $HF_HOME/hub; each scores exactly what the plain folders score, and the provenance records the
// repository, the ref and its commit. A dangling ref, a broken blob link and an id in no cache are one line each.
import { Gpu } from "../engine/gpu.ts";
import { scoreCommand } from "../cli/score.ts";
import { resolveCheckpoints } from "../io/checkpoints.ts";
import { hubData, resolveDatasetPath } from "../io/hub.ts";
import { readResults } from "../io/results.ts";
import { mergeShards } from "../io/merge.ts";
import { collectInputFiles } from "../analysis/load.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { EngramError } from "../base/errors.ts";
import { engramLines, FIXTURES, PICO_DATA, PICO_MODELS, runCli, withTempDir } from "./helpers.ts";
import { addSnapshot, fakeCommit, withEnv } from "./hub_tree.ts";

const REVISIONS = ["step273", "step546", "step819", "step1092"];
const commit = (model: string, revision: string) => fakeCommit(`${model}@${revision}`);

/** A cache with pico-1 at every revision (main = step1092, a nested ref refs/pr/1, one snapshot no ref names),
 * pico-2 at step1092 (= main) and the pico data as a dataset at main. */
async function buildCache(cache: string): Promise<void> {
  for (const revision of REVISIONS) {
    const refs = [
      revision,
      ...(revision === "step1092" ? ["main"] : []),
      ...(revision === "step546" ? ["pr/1"] : []),
    ];
    await addSnapshot(
      cache,
      "model",
      "engram-test/pico-1",
      await commit("pico-1", revision),
      `${PICO_MODELS}/pico-1/${revision}`,
      refs,
    );
  }
  await addSnapshot(
    cache,
    "model",
    "engram-test/pico-1",
    await fakeCommit("unnamed"),
    `${PICO_MODELS}/pico-1/step273`,
    [],
  );
  await addSnapshot(
    cache,
    "model",
    "engram-test/pico-2",
    await commit("pico-2", "step1092"),
    `${PICO_MODELS}/pico-2/step1092`,
    ["step1092", "main"],
  );
  await addSnapshot(
    cache,
    "dataset",
    "engram-test/pico-data",
    await fakeCommit("data"),
    `${FIXTURES}pico/data`,
    ["main"],
  );
}

const names = (cks: { model: string; revision: string }[]) => cks.map((c) => `${c.model}@${c.revision}`);

Deno.test("hub cache: a repository folder's revisions are its refs; the cache root is a suite; ORG/NAME is looked up", async () => {
  await withTempDir(async (cache) => {
    await buildCache(cache);
    const notes: string[] = [];
    const repo = await resolveCheckpoints(
      `${cache}/models--engram-test--pico-1`,
      undefined,
      undefined,
      (l) => notes.push(l),
    );
    // main names step1092's commit: scored once, as step1092, with a note (unless --revisions names main).
    assertEquals(names(repo), REVISIONS.map((r) => `pico-1@${r}`));
    assertEquals(
      repo[0].dir,
      `${cache}/models--engram-test--pico-1/snapshots/${await commit("pico-1", "step273")}`,
    );
    assertEquals(repo.map((c) => c.repo), REVISIONS.map(() => "engram-test/pico-1"));
    assertEquals(repo[3].commit, await commit("pico-1", "step1092"));
    // The nested ref, the snapshot no ref names and main (step1092's commit) are skipped, each with a note.
    assertEquals(notes.length, 3, notes.join("\n"));
    assert(notes.some((n) => /nested ref pr\/1/.test(n)), notes.join("\n"));
    assert(notes.some((n) => /main is step1092's commit/.test(n)), notes.join("\n"));
    // Named by --revisions, main is scored under its name too.
    const both = await resolveCheckpoints(`${cache}/models--engram-test--pico-1`, undefined, [
      "main",
      "step1092",
    ]);
    assertEquals([names(both), both[1].commit], [["pico-1@step1092", "pico-1@main"], repo[3].commit]);
    const unnamed = await fakeCommit("unnamed");
    assert(notes.some((n) => n.includes(`${unnamed}: no ref`)), notes.join("\n"));

    const root = await resolveCheckpoints(cache);
    assertEquals(names(root), [
      ...REVISIONS.map((r) => `pico-1@${r}`),
      "pico-2@step1092",
    ]);
    assertEquals(names(await resolveCheckpoints(cache, ["pico-2"], ["main"])), ["pico-2@main"]);
    assertEquals(names(await resolveCheckpoints(cache, ["pico-1"], ["step546"])), ["pico-1@step546"]);

    // A snapshot folder: its revision is the ref that names it (stepN before main).
    const snap = await resolveCheckpoints(repo[3].dir);
    assertEquals([names(snap), snap[0].repo, snap[0].commit], [
      ["pico-1@step1092"],
      "engram-test/pico-1",
      repo[3].commit,
    ]);

    // ORG/NAME in $HF_HUB_CACHE, else $HF_HOME/hub.
    await withEnv({ HF_HUB_CACHE: cache, HF_HOME: undefined }, async () => {
      assertEquals(names(await resolveCheckpoints("engram-test/pico-2")), ["pico-2@step1092"]);
    });
    await Deno.mkdir(`${cache}/home`);
    await Deno.symlink(cache, `${cache}/home/hub`);
    await withEnv({ HF_HUB_CACHE: undefined, HF_HOME: `${cache}/home` }, async () => {
      assertEquals(names(await resolveCheckpoints("engram-test/pico-1", undefined, ["step819"])), [
        "pico-1@step819",
      ]);
    });
  });
});

Deno.test("hub cache: every layout scores exactly what the plain folders score; provenance names repo, ref, commit", async () => {
  const gpu = await Gpu.open();
  try {
    await withTempDir(async (dir) => {
      const cache = `${dir}/cache`;
      await buildCache(cache);
      const common = ["--count", "24", "--quiet", "--format", "jsonl"];
      await scoreCommand([
        "--model",
        `${PICO_MODELS}/pico-1`,
        "--revisions",
        "step273,step1092",
        "--data",
        PICO_DATA,
        "--out",
        `${dir}/plain`,
        ...common,
      ], gpu);
      const plain = async (rev: string) => (await readResults(`${dir}/plain/pico-1@${rev}.jsonl`)).table;
      const layouts: [string, string[]][] = [
        ["repo", [
          "--model",
          `${cache}/models--engram-test--pico-1`,
          "--revisions",
          "step273,main",
          "--data",
          PICO_DATA,
        ]],
        ["root", [
          "--model",
          cache,
          "--models",
          "pico-1",
          "--revisions",
          "step273,main",
          "--data",
          `${cache}/datasets--engram-test--pico-data`,
        ]],
        ["id", [
          "--model",
          "engram-test/pico-1",
          "--revisions",
          "step273,main",
          "--data",
          "engram-test/pico-data",
        ]],
      ];
      await withEnv({ HF_HUB_CACHE: cache }, async () => {
        for (const [name, args] of layouts) {
          const out = `${dir}/${name}`;
          const done = await scoreCommand([...args, "--out", out, ...common], gpu);
          assertEquals(done.map((s) => s.path), [`${out}/pico-1@step273.jsonl`, `${out}/pico-1@main.jsonl`]);
          for (const [rev, same] of [["step273", "step273"], ["main", "step1092"]]) {
            const { table, provenance } = await readResults(`${out}/pico-1@${rev}.jsonl`);
            const want = await plain(same);
            assertEquals([...table.index], [...want.index], `${name} ${rev}: rows`);
            assertEquals([...table.matches!], [...want.matches!], `${name} ${rev}: matches`);
            assertEquals([...table.firstMismatch], [...want.firstMismatch], `${name} ${rev}: first mismatch`);
            assertEquals(
              [provenance!.model, provenance!.revision, provenance!.repo, provenance!.commit],
              ["pico-1", rev, "engram-test/pico-1", await commit("pico-1", same)],
            );
            const data = name === "repo"
              ? [undefined, undefined, undefined]
              : ["engram-test/pico-data", "main", await fakeCommit("data")];
            assertEquals([provenance!.data_repo, provenance!.data_revision, provenance!.data_commit], data);
            if (name !== "repo") {
              assertEquals(
                provenance!.data,
                `${cache}/datasets--engram-test--pico-data/snapshots/${data[2]}/pico_document`,
              );
            }
          }
        }
      });
    });
  } finally {
    gpu.destroy();
  }
});

Deno.test("hub cache: shards of a hub checkpoint merge, keeping its repo, commit and data origin", async () => {
  const gpu = await Gpu.open();
  try {
    await withTempDir(async (dir) => {
      const cache = `${dir}/cache`;
      await buildCache(cache);
      const args = ["--model", `${cache}/models--engram-test--pico-1`, "--revisions", "main"];
      const data = ["--data", `${cache}/datasets--engram-test--pico-data`, "--count", "20", "--quiet"];
      for (const shard of ["0/2", "1/2"]) {
        await scoreCommand([...args, ...data, "--shard", shard, "--out", `${dir}/s`], gpu);
      }
      await mergeShards(
        [0, 1].map((i) => `${dir}/s/pico-1@main.shard-${i}-of-2.parquet`),
        `${dir}/merged.parquet`,
      );
      const p = (await readResults(`${dir}/merged.parquet`)).provenance!;
      assertEquals([p.repo, p.commit, p.data_repo, p.data_revision, p.data_commit, p.rows], [
        "engram-test/pico-1",
        await commit("pico-1", "step1092"),
        "engram-test/pico-data",
        "main",
        await fakeCommit("data"),
        20,
      ]);
    });
  } finally {
    gpu.destroy();
  }
});

Deno.test("hub cache: a dataset repository as --results is its snapshot's files", async () => {
  await withTempDir(async (cache) => {
    const from = `${cache}/from`;
    await Deno.mkdir(`${from}/data`, { recursive: true });
    await Deno.writeTextFile(`${from}/data/a.csv`, "model,revision,index,score\npico-1,step1,0,1\n");
    await Deno.writeTextFile(`${from}/README.md`, "not results\n");
    const snap = await addSnapshot(cache, "dataset", "engram-test/lists", await fakeCommit("lists"), from, [
      "main",
    ]);
    await withEnv({ HF_HUB_CACHE: cache }, async () => {
      assertEquals(await resolveDatasetPath("engram-test/lists", "--results"), {
        path: snap,
        origin: {
          repo: "engram-test/lists",
          revision: "main",
          commit: await fakeCommit("lists"),
          dir: snap,
          refFile: `${cache}/datasets--engram-test--lists/refs/main`,
        },
      });
      assertEquals(
        (await resolveDatasetPath("engram-test/lists@main/data/a.csv", "--results")).path,
        `${snap}/data/a.csv`,
      );
      assertEquals(
        await collectInputFiles([(await resolveDatasetPath("engram-test/lists", "--results")).path]),
        [`${snap}/data/a.csv`],
      );
      // A path inside a snapshot is read as it is; as --data, its repository, ref and commit are traced.
      assertEquals((await resolveDatasetPath(`${snap}/data/a.csv`, "--results")).path, `${snap}/data/a.csv`);
      const dataSnap = await addSnapshot(
        cache,
        "dataset",
        "engram-test/pico-data",
        await fakeCommit("data"),
        `${FIXTURES}pico/data`,
        ["main"],
      );
      assertEquals(await hubData(`${dataSnap}/pico_document`, "--data"), {
        path: `${dataSnap}/pico_document`,
        origin: { repo: "engram-test/pico-data", revision: "main", commit: await fakeCommit("data") },
      });
      assertEquals(
        (await hubData(`${cache}/datasets--engram-test--pico-data@main`, "--data")).path,
        `${dataSnap}/pico_document`,
      );
      // A local path is never taken for a repository id.
      assertEquals((await resolveDatasetPath(`${from}/data/a.csv`, "--results")).path, `${from}/data/a.csv`);
    });
  });
});

Deno.test("hub cache: a dangling ref, a broken blob link, an id in no cache: one engram: line each, nothing written", async () => {
  await withTempDir(async (dir) => {
    const cache = `${dir}/cache`;
    await buildCache(cache);
    const repo = `${cache}/models--engram-test--pico-1`;
    const cases: [string, () => Promise<void>, string[], RegExp][] = [
      [
        "dangling ref",
        () => Deno.writeTextFile(`${repo}/refs/step9999`, "0".repeat(40)),
        ["--model", repo, "--revisions", "step9999"],
        /refs\/step9999: the ref step9999 names commit 0{40}, but its snapshot .* is not there .*download it again \(\.\/engram download engram-test\/pico-1 --revisions step9999\)/,
      ],
      [
        "broken link",
        async () => {
          const link = `${repo}/snapshots/${await commit("pico-1", "step819")}/model.safetensors`;
          await Deno.remove(`${repo}/blobs/${(await Deno.readLink(link)).split("/").pop()}`);
        },
        ["--model", repo, "--revisions", "step819"],
        /model\.safetensors is a broken link \(to \.\.\/\.\.\/blobs\/[0-9a-f]{64}\): its blob is missing .*--revisions step819\)$/,
      ],
      [
        "no cache",
        async () => {},
        ["--model", "engram-test/pico-9"],
        /^engram: --model engram-test\/pico-9: no such file or folder, and no models--engram-test--pico-9 in the Hugging Face cache .* \(\$HF_HUB_CACHE\); download it/,
      ],
    ];
    for (const [what, spoil, args, message] of cases) {
      await spoil();
      const out = `${dir}/out-${what.replace(/ /g, "-")}`;
      const run = await runCli(["score", ...args, "--data", PICO_DATA, "--count", "8", "--out", out], {
        env: { HF_HUB_CACHE: cache },
      });
      const lines = engramLines(run.stderr);
      assertEquals(run.code, 1, `${what}: ${run.stderr}`);
      assertEquals(lines.length, 1, `${what}: ${run.stderr}`);
      assert(message.test(lines[0]), `${what}: ${lines[0]}`);
      assertEquals(await Deno.stat(out).catch(() => null), null, `${what}: ${out} was written`);
    }
  });
});

Deno.test("hub cache: a repository folder with no ref says so and how to get one", async () => {
  await withTempDir(async (cache) => {
    const snap = await addSnapshot(
      cache,
      "model",
      "engram-test/pico-1",
      await fakeCommit("x"),
      `${PICO_MODELS}/pico-1/step273`,
      [],
    );
    const notes: string[] = [];
    const e = await assertRejects(
      () =>
        resolveCheckpoints(
          `${cache}/models--engram-test--pico-1`,
          undefined,
          undefined,
          (l) => notes.push(l),
        ),
      EngramError,
    );
    assert(
      /refs names no revision .*\.\/engram download engram-test\/pico-1 --revisions main/.test(e.message),
      e.message,
    );
    assertEquals(notes.length, 1);
    // Its snapshot, named directly, is a checkpoint at the commit (no ref names it).
    assertEquals(names(await resolveCheckpoints(snap)), [`pico-1@${await fakeCommit("x")}`]);
  });
});
