// What `score` does with its output, run as a user would: a results file already there is kept only when it
// answers the very same request (else refused by name; --force rescores); one lock per results file keeps two
// runs apart and is released on every exit (errors, SIGINT, SIGTERM) and taken over from a dead run; a run that
// fails before recording a row leaves no journal to block the corrected rerun; a read-only or full output folder
// is one clear line; --out FILE.csv is a file.
import { scoreCommand } from "../cli/score.ts";
import { EngramError } from "../base/errors.ts";
import { dirname, resolve } from "../base/path.ts";
import { openRowSource } from "../io/rows.ts";
import { Gpu } from "../engine/gpu.ts";
import { readResults } from "../io/results.ts";
import { loadTokenizer } from "../io/texts.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { expectError } from "./cli_contract.ts";
import { PICO_DATA, PICO_MODELS, runCli, withTempDir } from "./helpers.ts";
import { tokenRows, writeMegatron } from "./megatron.ts";
import { startStopping } from "./score_stopping.ts";

const CHECKPOINT = `${PICO_MODELS}/pico-1/step1092`;
const NAME = "pico-1@step1092.csv";

const args = (out: string, ...extra: string[]) => [
  "score",
  ...["--model", CHECKPOINT, "--data", PICO_DATA, "--out", out, "--format", "csv", "--quiet", ...extra],
];

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** The results file and its provenance sidecar, as bytes (to see that a refused or skipped run left them be). */
async function snapshot(out: string): Promise<string> {
  return await Deno.readTextFile(`${out}/${NAME}`) +
    await Deno.readTextFile(`${out}/${NAME}.provenance.json`);
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
}

Deno.test("a results file is kept only if it answers the same request; any difference is refused by name; --force rescores", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    const gpu = await Gpu.open();
    const score = (...extra: string[]) => scoreCommand(args(out, ...extra).slice(1), gpu);
    assertEquals((await score("--count", "32"))[0].skipped, false);
    const before = await snapshot(out);
    // The same request again: kept as it is.
    assertEquals((await score("--count", "32"))[0].skipped, true);
    assertEquals(await snapshot(out), before, "a skipped run leaves the file as it was");
    // The Megatron data named by either of its files is the same data (it was refused as another --data).
    for (const named of [`${PICO_DATA}.bin`, `${PICO_DATA}.idx`]) {
      assertEquals((await score("--count", "32", "--data", named))[0].skipped, true, named);
    }
    assertEquals((await readResults(`${out}/${NAME}`)).provenance!.data, resolve(PICO_DATA));

    // A copy of the data and of the model elsewhere: the same tokens and weights, but other inputs.
    await copyDir(dirname(PICO_DATA), `${dir}/data`);
    const model = `${dir}/models/pico-1/step1092`;
    await copyDir(CHECKPOINT, model);
    const refused: [string[], RegExp][] = [
      [["--count", "64"], /holds rows \[0, 32\), but this run asks for rows \[0, 64\)/],
      [["--count", "16"], /holds rows \[0, 32\), but this run asks for rows \[0, 16\)/],
      [["--start", "8", "--count", "32"], /rows \[8, 40\)/],
      [["--count", "32", "--prompt", "16"], /--prompt 32, but this run asks for --prompt 16/],
      [["--count", "32", "--continuation", "16"], /--continuation 32, but .* --continuation 16/],
      [["--count", "32", "--offset", "1"], /--offset 0, but .* --offset 1/],
      [["--count", "32", "--mode", "extractable"], /--mode score, but .* --mode extractable/],
      [["--count", "32", "--paper-compatible"], /pure greedy, but .* --paper-compatible/],
      [["--count", "32", "--logprob"], /no --logprob, but .* --logprob/],
      [
        ["--count", "32", "--data", `${dir}/data/pico_document`],
        /data .*pico_document, but .* data .*\/data\//,
      ],
      [["--count", "32", "--model", model], /the model at .*, but this run asks for the model at .*models/],
    ];
    for (const [extra, why] of refused) {
      const e = await assertRejects(() => score(...extra), EngramError);
      assert(e.message.startsWith(`${out}/${NAME} `), `names the file: ${e.message}`);
      assert(why.test(e.message), `${extra.join(" ")}: ${e.message} should match ${why}`);
      assert(/pass --force to rescore, or another --out/.test(e.message), `says what to do: ${e.message}`);
      assertEquals(await snapshot(out), before, `${extra.join(" ")}: the file is left as it was`);
    }

    // The model's config.json changed under the same path.
    assertEquals((await score("--count", "32", "--model", model, "--force"))[0].skipped, false);
    const cfg = JSON.parse(await Deno.readTextFile(`${model}/config.json`));
    await Deno.writeTextFile(`${model}/config.json`, JSON.stringify({ ...cfg, layer_norm_eps: 1e-3 }));
    const e = await assertRejects(() => score("--count", "32", "--model", model), EngramError);
    assert(/config\.json of hash [0-9a-f]{16}, but .* hash [0-9a-f]{16}/.test(e.message), e.message);

    // --force rescores; the file then holds the rows asked for.
    assertEquals((await score("--count", "48", "--force"))[0].skipped, false);
    const { table, provenance } = await readResults(`${out}/${NAME}`);
    assertEquals([...table.index], Array.from({ length: 48 }, (_, i) => i));
    assertEquals([provenance!.start, provenance!.count, provenance!.rows], [0, 48, 48]);

    // A file without provenance cannot be told to answer anything.
    await Deno.remove(`${out}/${NAME}.provenance.json`);
    const bare = await assertRejects(() => score("--count", "48"), EngramError);
    assert(/has no provenance/.test(bare.message), bare.message);

    // A shard is the same shard however its numbers are written (a job script may pad them).
    assertEquals((await score("--count", "16", "--shard", "01/2"))[0].skipped, false);
    assertEquals((await score("--count", "16", "--shard", "1/2"))[0].skipped, true);
    gpu.destroy();
  }, "engram-stale-");
});

Deno.test("a stale results file from the command line: one line naming the file, the rows and --force", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    assertEquals((await runCli(args(out, "--count", "64"))).code, 0);
    await expectError(
      args(out, "--start", "1000", "--count", "16", "--prompt", "16", "--continuation", "16"),
      [
        `${out}/${NAME} holds rows [0, 64), but this run asks for rows [1000, 1016)`,
        "pass --force to rescore, or another --out",
      ],
    );
    const forced = await runCli(args(out, "--start", "1000", "--count", "16", "--force"));
    assertEquals(forced.code, 0, forced.stderr);
    const { table } = await readResults(`${out}/${NAME}`);
    assertEquals([...table.index], Array.from({ length: 16 }, (_, i) => 1000 + i));
  }, "engram-stale-cli-");
});

Deno.test("--out FILE.csv writes that one results file (not a folder of that name); the next run skips it", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/sub/one.csv`;
    const run = () => runCli(["score", "--model", CHECKPOINT, "--count", "8", "--out", file]);
    const r = await run();
    assertEquals(r.code, 0, r.stderr);
    assert((await Deno.stat(file)).isFile, `${file} is a file`);
    assert((await Deno.readTextFile(file)).startsWith("index,score,"), "CSV, as the extension says");
    assertEquals(await listDir(`${dir}/sub`), ["one.csv", "one.csv.provenance.json"]);
    assertEquals((await readResults(file)).table.index.length, 8);
    const again = await run();
    assertEquals(again.code, 0, again.stderr);
    assert(/skipped/.test(again.stderr), again.stderr);
    // A trailing slash says folder, whatever the name ends with (it was taken for a file inside a missing folder).
    const folder = `${dir}/runs.csv/`;
    const r2 = await runCli(["score", "--model", CHECKPOINT, "--count", "8", "--out", folder, "--quiet"]);
    assertEquals(r2.code, 0, r2.stderr);
    assertEquals(await listDir(folder), ["pico-1@step1092.parquet"]);
  }, "engram-out-file-");
});

// ---------------------------------------------------------------------------------------------- journals

Deno.test("a run that fails in its first batch leaves no journal; the corrected rerun scores", async () => {
  await withTempDir(async (dir) => {
    const rows = tokenRows(8);
    rows[5] = rows[5].slice(0, 40); // too short for --prompt 32 --continuation 32
    await writeMegatron(`${dir}/short`, rows);
    const out = `${dir}/out`;
    const data = ["--data", `${dir}/short`];
    await expectError(args(out, ...data), [/\brow 5\b/, /\b40 tokens\b/]);
    assertEquals(await listDir(out), [], "no journal (and no lock) after the failure");
    const fixed = await runCli(args(out, ...data, "--prompt", "16", "--continuation", "16"));
    assertEquals(fixed.code, 0, fixed.stderr);
    assertEquals((await readResults(`${out}/${NAME}`)).table.index.length, 8);
  }, "engram-first-batch-");
});

Deno.test("a run that fails after recording rows keeps them; a rerun with other arguments is refused", async () => {
  await withTempDir(async (dir) => {
    const rows = tokenRows(8);
    rows[5] = rows[5].slice(0, 40);
    await writeMegatron(`${dir}/short`, rows);
    const out = `${dir}/out`;
    const data = ["--data", `${dir}/short`, "--batch", "4"];
    await expectError(args(out, ...data), [/\brow 5\b/]);
    assertEquals(await listDir(out), [`${NAME}.partial`], "the journal of rows 0..3 stays");
    await expectError(args(out, ...data, "--prompt", "16", "--continuation", "16"), [
      `${out}/${NAME}.partial`,
      /other arguments \(its prompt was 32, this run's is 16\)/,
    ]);
    // The data rewritten in place (row 5 repaired): the journal's rows came from other data.
    await writeMegatron(`${dir}/short`, tokenRows(8));
    await expectError(args(out, ...data), [
      /other arguments \(its data_fingerprint was "[0-9a-f]{32}", this run's/,
    ]);
  }, "engram-later-batch-");
});

Deno.test("a journal of other arguments, or of an older engram's key, is refused saying so; --force starts over", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`, partial = `${out}/${NAME}.partial`;
    // The journal an engram before request() keys wrote: its key names the arguments differently.
    const header = new TextEncoder().encode(JSON.stringify({
      key: { model: resolve(CHECKPOINT), config: "7bf365ed2c7803bb", rows: [0, 8], cont: 32, suppress: null },
      created: "2026-01-01T00:00:00.000Z",
    }));
    const journal = new Uint8Array(12 + header.length + 3 * 16);
    journal.set(new TextEncoder().encode("ENGRAMJ1"));
    new DataView(journal.buffer).setUint32(8, header.length, true);
    journal.set(header, 12);
    for (let r = 0; r < 3; r++) new DataView(journal.buffer).setFloat64(12 + header.length + r * 16, r, true);
    await Deno.mkdir(out);
    await Deno.writeFile(partial, journal);
    const run = args(out, "--count", "8");
    await expectError(run, [
      partial,
      /3 rows of a run with other arguments/,
      /--force/,
      /another engram version/,
    ]);
    assertEquals(await Deno.readFile(partial), journal, "refused: the journal is left as it was");
    const before = new Date().toISOString();
    const forced = await runCli([...run, "--force"]);
    assertEquals(forced.code, 0, forced.stderr);
    assertEquals(await listDir(out), [NAME, `${NAME}.provenance.json`]);
    const fresh = `${dir}/fresh`;
    assertEquals((await runCli(args(fresh, "--count", "8"))).code, 0);
    const [a, b] = [await readResults(`${out}/${NAME}`), await readResults(`${fresh}/${NAME}`)];
    assertEquals(a.table, b.table, "--force scored every row again, as a run without the journal");
    assert(
      a.provenance!.created >= before,
      `a new job's start, not the old journal's: ${a.provenance!.created}`,
    );
  }, "engram-force-journal-");
});

Deno.test("an edited journal is named when its rows are wrong, not the results file it was to become", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    const run = args(out, "--count", "8", "--batch", "4");
    const killed = startStopping(4, run);
    await killed.stopped(); // rows 0..3 journaled
    killed.child.kill("SIGKILL");
    await killed.output;
    // A record appended by hand (row 999): the rerun resumes after it and finds it when writing the results.
    const record = new DataView(new ArrayBuffer(16));
    record.setFloat64(0, 999, true);
    record.setInt16(8, 5, true);
    record.setInt16(10, 3, true);
    await Deno.writeFile(`${out}/${NAME}.partial`, new Uint8Array(record.buffer), { append: true });
    await expectError(run, [
      `${out}/${NAME}.partial (this job's journal: delete it to score the job again): row 5 has index 999`,
    ]);
    assertEquals(await listDir(out), [`${NAME}.partial`], "no results file");
  }, "engram-edited-journal-");
});

/** `n` texts (pico rows 0..n-1 decoded, 64 tokens each; `short`: one of 10 tokens) in `dir`/texts.jsonl, and a
 *  second tokenizer in `dir`/other: pico's with two ids swapped (other tokens for the same texts). */
async function textsAndTwoTokenizers(dir: string, n: number, short?: number): Promise<string> {
  const pico = `${PICO_MODELS}/../tokenizer`;
  const tokenizer = await loadTokenizer(pico);
  const data = await openRowSource(PICO_DATA);
  const tokens = await data.read(Array.from({ length: n }, (_, r) => r), 0, 64);
  data.close();
  const texts = Array.from({ length: n }, (_, r) =>
    JSON.stringify({
      text: tokenizer.decode(Array.from(tokens.subarray(r * 64, r * 64 + (r === short ? 10 : 64)))),
    }));
  await Deno.writeTextFile(`${dir}/texts.jsonl`, texts.join("\n") + "\n");
  const json = JSON.parse(await Deno.readTextFile(`${pico}/tokenizer.json`));
  const vocab: Record<string, number> = json.model.vocab;
  const [a, b] = [100, 200].map((id) => Object.keys(vocab).find((k) => vocab[k] === id)!);
  [vocab[a], vocab[b]] = [vocab[b], vocab[a]];
  await Deno.mkdir(`${dir}/other`);
  await Deno.writeTextFile(`${dir}/other/tokenizer.json`, JSON.stringify(json));
  return pico;
}

Deno.test("texts tokenized by one tokenizer are not kept or resumed for a run with another", async () => {
  await withTempDir(async (dir) => {
    const pico = await textsAndTwoTokenizers(dir, 8);
    const out = `${dir}/out`;
    const run = (tokenizer: string, ...extra: string[]) =>
      args(out, "--data", `${dir}/texts.jsonl`, "--tokenizer", tokenizer, ...extra);
    assertEquals((await runCli(run(pico))).code, 0);
    const { provenance } = await readResults(`${out}/${NAME}`);
    assertEquals(provenance!.tokenizer, resolve(`${pico}/tokenizer.json`));
    await expectError(run(`${dir}/other`), [
      `${out}/${NAME} was scored with the tokenizer ${resolve(pico)}/tokenizer.json, but this run asks ` +
      `for the tokenizer ${dir}/other/tokenizer.json`,
    ]);
    assertEquals((await runCli(run(`${dir}/other`, "--force"))).code, 0);
    assertEquals((await readResults(`${out}/${NAME}`)).provenance!.tokenizer, `${dir}/other/tokenizer.json`);

    // A journal of rows tokenized by one is not resumed with the other.
    const later = `${dir}/later`;
    await Deno.mkdir(later);
    await textsAndTwoTokenizers(later, 8, 5);
    const journaled = (tokenizer: string) =>
      args(`${later}/out`, "--data", `${later}/texts.jsonl`, "--tokenizer", tokenizer, "--batch", "4");
    await expectError(journaled(pico), [/\brow 5\b/]);
    assertEquals(await listDir(`${later}/out`), [`${NAME}.partial`], "the journal of rows 0..3 stays");
    await expectError(journaled(`${later}/other`), [`${later}/out/${NAME}.partial`, /other arguments/]);
  }, "engram-tokenizer-");
});

Deno.test("results of other weights or data at the same path (a repointed link, data rewritten in place) are refused", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`, link = `${dir}/pico-1/latest`;
    await Deno.mkdir(`${dir}/pico-1`);
    await Deno.symlink(resolve(`${PICO_MODELS}/pico-1/step546`), link);
    const data = `${dir}/data/pico_document`;
    await copyDir(dirname(PICO_DATA), `${dir}/data`);
    const run = (...extra: string[]) => [
      "score",
      ...["--model", link, "--data", data, "--out", `${out}/x.csv`, "--count", "16", "--quiet", ...extra],
    ];
    assertEquals((await runCli(run())).code, 0);
    const first = (await readResults(`${out}/x.csv`)).provenance!;
    assert(
      /^[0-9a-f]{32}$/.test(first.weights_fingerprint!),
      `weights fingerprint ${first.weights_fingerprint}`,
    );
    assert(/^[0-9a-f]{32}$/.test(first.data_fingerprint!), `data fingerprint ${first.data_fingerprint}`);
    const before = await Deno.readTextFile(`${out}/x.csv`);

    // The link now points at another revision: same path, same config, other weights.
    await Deno.remove(link);
    await Deno.symlink(resolve(`${PICO_MODELS}/pico-1/step1092`), link);
    await expectError(run(), [
      `${out}/x.csv was scored with weights of fingerprint ${first.weights_fingerprint}`,
    ]);
    assertEquals(await Deno.readTextFile(`${out}/x.csv`), before, "the refused run left the file");
    assertEquals((await runCli(run("--force"))).code, 0);
    const second = (await readResults(`${out}/x.csv`)).provenance!;
    assert(second.weights_fingerprint !== first.weights_fingerprint);
    assertEquals(second.data_fingerprint, first.data_fingerprint, "the same data");

    // The data's first row rewritten in place (token 0 where it had others): same path, other data.
    const bin = await Deno.open(`${data}.bin`, { write: true });
    await bin.write(new Uint8Array(64));
    bin.close();
    await expectError(run(), [`${out}/x.csv was scored with data of fingerprint ${first.data_fingerprint}`]);
    assertEquals((await runCli(run("--force"))).code, 0);
    assert((await readResults(`${out}/x.csv`)).provenance!.data_fingerprint !== first.data_fingerprint);
  }, "engram-fingerprint-");
});

// ---------------------------------------------------------------------------------------------- locks

/** Writes the lock of `out`/NAME as held by `holder`. */
async function writeLock(
  out: string,
  holder: { pid: number; host: string; started: string },
): Promise<string> {
  await Deno.mkdir(out, { recursive: true });
  const path = `${out}/${NAME}.lock`;
  await Deno.writeTextFile(path, JSON.stringify(holder));
  return path;
}

Deno.test("a results file locked by a live run (this host or another) is refused, naming the holder", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    const started = "2026-01-02T03:04:05.000Z";
    for (
      const holder of [{ pid: Deno.pid, host: Deno.hostname(), started }, { pid: 1, host: "node-7", started }]
    ) {
      const lock = await writeLock(out, holder);
      const text = await Deno.readTextFile(lock);
      await expectError(args(out, "--count", "8"), [
        `${out}/${NAME} is being written by another run (pid ${holder.pid} on ${holder.host}, since ${started})`,
        `delete ${lock}`,
      ]);
      assertEquals(await Deno.readTextFile(lock), text, "the holder's lock is left alone");
      assertEquals(await listDir(out), [`${NAME}.lock`], "nothing else written");
    }
  }, "engram-lock-");
});

Deno.test("a lock left by a dead run of this host is taken over; the run scores and removes it", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    await writeLock(out, { pid: dead.pid, host: Deno.hostname(), started: new Date().toISOString() });
    const r = await runCli(args(out, "--count", "8"));
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await listDir(out), [NAME, `${NAME}.provenance.json`]);
  }, "engram-stale-lock-");
});

Deno.test("two runs on one results file: the second is refused while the first holds it; the first finishes", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    const first = startStopping(16, args(out, "--count", "64", "--batch", "16"));
    try {
      await first.stopped(); // mid-run, holding the lock, 16 rows in its journal
      await expectError(args(out, "--count", "64", "--batch", "16"), [
        `${out}/${NAME} is being written by another run (pid ${first.child.pid} on ${Deno.hostname()}`,
      ]);
      first.child.kill("SIGCONT");
      const o = await first.output;
      assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
    } finally {
      try {
        first.child.kill("SIGKILL");
      } catch {
        // it has ended
      }
      await first.output.catch(() => {});
    }
    assertEquals(await listDir(out), [NAME, `${NAME}.provenance.json`], "results only: no lock, no journal");
    assertEquals((await readResults(`${out}/${NAME}`)).table.index.length, 64);
    const before = await snapshot(out);
    const again = await runCli(args(out, "--count", "64"));
    assertEquals(again.code, 0, again.stderr);
    assertEquals(await snapshot(out), before, "the rerun skips the finished file");
  }, "engram-two-runs-");
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`a run ended by ${signal} releases its lock and keeps its journal; the rerun resumes`, async () => {
    await withTempDir(async (dir) => {
      const out = `${dir}/out`;
      const run = startStopping(16, args(out, "--count", "64", "--batch", "16"));
      await run.stopped();
      assertEquals(await listDir(out), [`${NAME}.lock`, `${NAME}.partial`]);
      run.child.kill(signal);
      run.child.kill("SIGCONT");
      const o = await run.output;
      assertEquals(o.signal, signal, `ended by ${signal}: ${new TextDecoder().decode(o.stderr)}`);
      assertEquals(await listDir(out), [`${NAME}.partial`], "the lock is gone, the journal stays");
      const r = await runCli(args(out, "--count", "64", "--batch", "16"));
      assertEquals(r.code, 0, r.stderr);
      assertEquals((await readResults(`${out}/${NAME}`)).table.index.length, 64);
    }, "engram-signal-");
  });
}

// ---------------------------------------------------------------------------------------------- unwritable

/** Mounts a tmpfs at `dir` (CI runs as root); false, with the reason printed, where mounting is not allowed. */
async function mountTmpfs(dir: string, options: string): Promise<boolean> {
  await Deno.mkdir(dir, { recursive: true });
  const r = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", options, "tmpfs", dir],
    stderr: "piped",
  })
    .output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
  if (!r.success) {
    console.log(`  skipped: cannot mount a tmpfs (${new TextDecoder().decode(r.stderr).trim()}); needs root`);
  }
  return r.success;
}

async function unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
}

Deno.test("a read-only --out folder is one line, not an internal error", async () => {
  await withTempDir(async (dir) => {
    const ro = `${dir}/ro`;
    if (!(await mountTmpfs(ro, "ro,size=64k"))) return;
    try {
      await expectError(args(ro, "--count", "8"), [`${ro}/${NAME}.lock`, /read-only/i]);
      await expectError(args(`${ro}/sub`, "--count", "8"), [`${ro}/sub`, /read-only/i]);
    } finally {
      await unmount(ro);
    }
  }, "engram-readonly-");
});

Deno.test("a disk full while journaling is one line; the rows recorded stay, and the rerun completes them", async () => {
  await withTempDir(async (dir) => {
    const full = `${dir}/full`;
    if (!(await mountTmpfs(full, "size=64k"))) return;
    try {
      const filler = `${full}/filler`;
      const run = args(full, "--count", "320", "--batch", "16");
      // One page free: the lock takes it, and the journal cannot even write its header.
      await Deno.writeFile(filler, new Uint8Array(64 * 1024 - 4096)).catch(() => {});
      await expectError(run, [`cannot write ${full}/${NAME}.partial`, /space/i]);
      assertEquals(await listDir(full), ["filler"], "neither a lock nor a half-written journal is left");
      // Two pages free: one for the lock, one for the journal's header and its first batches (16 bytes a row).
      await Deno.remove(filler);
      await Deno.writeFile(filler, new Uint8Array(64 * 1024 - 8192)).catch(() => {});
      await expectError(run, [
        `cannot write ${full}/${NAME}.partial`,
        /space/i,
        /resumes after the \d+ rows/,
      ]);
      assertEquals(await listDir(full), ["filler", `${NAME}.partial`], "no lock left; the journal stays");
      await Deno.remove(filler);
      const r = await runCli(run);
      assertEquals(r.code, 0, r.stderr);
      const reference = `${dir}/reference`;
      assertEquals((await runCli(args(reference, "--count", "320", "--batch", "16"))).code, 0);
      assertEquals(
        await Deno.readTextFile(`${full}/${NAME}`),
        await Deno.readTextFile(`${reference}/${NAME}`),
      );
    } finally {
      await unmount(full);
    }
  }, "engram-full-");
});

// ---------------------------------------------------------------------------------------------- demo

Deno.test("demo: scores of other rows in its folder are refused, and --force rescores them", async () => {
  await withTempDir(async (dir) => {
    const other = await runCli([
      "score",
      ...["--model", `${PICO_MODELS}/pico-1/step273`, "--count", "8", "--out", `${dir}/scores`, "--quiet"],
    ]);
    assertEquals(other.code, 0, other.stderr);
    await expectError(["demo", "--count", "16", "--out", dir], [
      `${dir}/scores/pico-1@step273.parquet holds rows [0, 8), but this run asks for rows [0, 16)`,
      "--force",
    ]);
    const forced = await runCli(["demo", "--count", "16", "--out", dir, "--force"]);
    assertEquals(forced.code, 0, forced.stderr);
    assertEquals((await readResults(`${dir}/scores/pico-1@step273.parquet`)).table.index.length, 16);
    assert((await Deno.stat(`${dir}/report/report.html`)).isFile, "the report is written");
  }, "engram-demo-force-");
});

Deno.test("score removes the temporaries a killed run on this host left in its output folder, saying so; a live run's stay", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/out`;
    await Deno.mkdir(out);
    const child = new Deno.Command("true").spawn();
    await child.status; // its pid names a run that no longer exists
    const host = Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "_");
    const dead = `.${NAME}.tmp-${host}-${child.pid}-3`, live = `.${NAME}.tmp-${host}-${Deno.pid}-99`;
    await Deno.writeFile(`${out}/${dead}`, new Uint8Array(2_500_000));
    await Deno.writeTextFile(`${out}/${live}`, "x");
    const said: string[] = [];
    const error = console.error;
    console.error = (...parts: unknown[]) => said.push(parts.join(" "));
    try {
      await scoreCommand(args(out, "--count", "8").slice(1), await Gpu.open());
    } finally {
      console.error = error;
    }
    assertEquals(
      said.filter((l) => l.includes("temporary")),
      [`score: removed 1 temporary file (2.5 MB) that a run killed while writing left in ${out} (pid ${child.pid} on this host)`],
    );
    assertEquals(await listDir(out), [live, NAME, `${NAME}.provenance.json`].sort());
  });
});
