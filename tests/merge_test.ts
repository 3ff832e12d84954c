// `merge` on shard files written here (no scoring): the merged rows are exactly the job's, whatever the order of
// the shards, an empty shard and one-row shards included; shards of different jobs, missing, repeated, truncated
// or with a gap at either end of the range are refused by name; --out may not be one of the inputs.
import { mergeShards } from "../io/merge.ts";
import { type Provenance, readResults, type ScoreTable, writeResults } from "../io/results.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { engramLines, runCli, withTempDir } from "./helpers.ts";
import { prov, writePair } from "./results_helpers.ts";

const START = 2 ** 32 + 10;

/** Row r of the job (planted values: matches and first mismatch from r). */
const matchesOf = (r: number) => (r * 7) % 33;
const firstOf = (r: number) => (matchesOf(r) === 32 ? 32 : matchesOf(r) % 5);

/** Shard i of n of a `count`-row job: the table and provenance `score --shard i/n` would write. */
function shard(i: number, n: number, count: number, over: Partial<Provenance> = {}) {
  const first = START + Math.floor((i * count) / n), rows = START + Math.floor(((i + 1) * count) / n) - first;
  const logprob = over.logprob ?? false;
  const table: ScoreTable = {
    index: Float64Array.from({ length: rows }, (_, k) => first + k),
    matches: over.mode === "extractable"
      ? null
      : Int16Array.from({ length: rows }, (_, k) => matchesOf(first + k)),
    firstMismatch: Int16Array.from({ length: rows }, (_, k) => firstOf(first + k)),
    logprob: logprob ? Float32Array.from({ length: rows }, (_, k) => -(first + k - START) / 8) : null,
    continuation: 32,
  };
  const p = prov({
    start: START,
    count,
    rows,
    shard: `${i}/${n}`,
    created: `2025-01-0${i + 1}T00:00:00.000Z`,
    ...over,
  });
  return { table, prov: p };
}

async function writeShards(
  dir: string,
  n: number,
  count: number,
  ext = ".csv",
  over: (i: number) => Partial<Provenance> = () => ({}),
) {
  const files = [];
  for (let i = 0; i < n; i++) {
    const s = shard(i, n, count, over(i));
    const path = join(dir, `s${i}${ext}`);
    await writeResults(path, s.table, s.prov, { rowGroupRows: 2 });
    files.push(path);
  }
  return files;
}

Deno.test("merge: shards in any order (an empty one, one-row ones) join into exactly the job's rows", async () => {
  await withTempDir(async (dir) => {
    // 4 rows in 5 shards: shard 0 is empty, the others hold one row each.
    for (const [n, count, ext] of [[5, 4, ".csv"], [3, 11, ".parquet"], [2, 7, ".jsonl"]] as const) {
      // Adapters and matmul variants may differ between shards (results do not depend on them).
      const files = await writeShards(dir, n, count, ext, (i) => ({
        adapter: `gpu ${i % 2}`,
        kernels: `tile ${i % 2}`,
      }));
      for (const out of [join(dir, `m${n}.parquet`), join(dir, `m${n}.csv`)]) {
        const { rows } = await mergeShards([...files].reverse(), out, { rowGroupRows: 3 });
        assertEquals(rows, count);
        const { table, provenance } = await readResults(out);
        assertEquals([...table.index], Array.from({ length: count }, (_, r) => START + r));
        assertEquals([...table.matches!], Array.from({ length: count }, (_, r) => matchesOf(START + r)));
        assertEquals([...table.firstMismatch], Array.from({ length: count }, (_, r) => firstOf(START + r)));
        const { shard: _, ...job } = shard(0, n, count).prov;
        assertEquals(provenance, {
          ...job,
          rows: count,
          adapter: n > 1 ? "gpu 0; gpu 1" : "gpu 0",
          kernels: n > 1 ? "tile 0; tile 1" : "tile 0",
          created: "2025-01-01T00:00:00.000Z",
        });
      }
    }
  });
});

Deno.test("merge: shards of different jobs are refused, naming the field and both values", async () => {
  await withTempDir(async (dir) => {
    const cases: [Partial<Provenance>, string][] = [
      [{ logprob: true }, "logprob"],
      [{ prompt: 16 }, "prompt"],
      [{ mode: "extractable" }, "mode"],
      [{ model_path: "/elsewhere/step143000" }, "model_path"],
      [{ config_hash: "fedcba9876543210" }, "config_hash"],
      [{ paper_compatible: false }, "paper_compatible"],
    ];
    for (const [over, field] of cases) {
      const files = await writeShards(dir, 2, 6, ".csv", (i) => (i === 1 ? over : {}));
      const e = await assertRejects(
        () => mergeShards(files, join(dir, "m.csv")),
        EngramError,
        `has ${field} `,
      );
      assert(e.message.includes(files[0]) && e.message.includes(files[1]), e.message);
      assert(e.message.includes(JSON.stringify(Object.values(over)[0])), e.message);
    }
    // A different job's range (another --start or --count).
    const a = await writeShards(dir, 2, 6);
    const b = shard(1, 2, 8);
    await writeResults(join(dir, "other.csv"), b.table, b.prov);
    await assertRejects(
      () => mergeShards([a[0], join(dir, "other.csv")], join(dir, "m.csv")),
      EngramError,
      "has count 8",
    );
    assertEquals([...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("m.")), [], "nothing written");
  });
});

Deno.test("merge: missing, repeated and non-shard files are refused", async () => {
  await withTempDir(async (dir) => {
    const files = await writeShards(dir, 3, 9, ".parquet");
    await assertRejects(
      () => mergeShards([files[0], files[2]], join(dir, "m.csv")),
      EngramError,
      "missing shard 1 of 3",
    );
    // A job of 2^28 shards with two given: the first ten missing are named, the rest counted (no array of 2^28).
    const huge = [shard(0, 2 ** 28, 2 ** 28), shard(3, 2 ** 28, 2 ** 28)];
    const given = await Promise.all(huge.map(async ({ table, prov }, k) => {
      const file = join(dir, `huge-${k}.csv`);
      await writeResults(file, table, prov);
      return file;
    }));
    await assertRejects(
      () => mergeShards(given, join(dir, "m.csv")),
      EngramError,
      `missing shards 1, 2, 4, 5, 6, 7, 8, 9, 10, 11 and ${2 ** 28 - 12} more of ${2 ** 28}`,
    );
    await assertRejects(
      () => mergeShards([files[0], files[1], files[2], files[1]], join(dir, "m.csv")),
      EngramError,
      "shard 1/3 given twice",
    );
    const whole = shard(0, 1, 9);
    const { shard: _, ...p } = whole.prov;
    await writeResults(join(dir, "whole.csv"), whole.table, p);
    await assertRejects(
      () => mergeShards([join(dir, "whole.csv")], join(dir, "m.csv")),
      EngramError,
      "is not a shard",
    );
    await assertRejects(() => mergeShards([], join(dir, "m.csv")), EngramError, "no shard files");
  });
});

Deno.test("merge: a truncated CSV shard and gaps at the start or end of the range are refused", async () => {
  await withTempDir(async (dir) => {
    const files = await writeShards(dir, 3, 30);
    const out = join(dir, "m.parquet");
    const text = await Deno.readTextFile(files[1]);
    const lines = text.split("\n");
    // `head -n -5` of a shard: its sidecar no longer matches.
    await Deno.writeTextFile(files[1], lines.slice(0, -6).join("\n") + "\n");
    await assertRejects(
      () => mergeShards(files, out),
      EngramError,
      `${files[1]} does not match its provenance`,
    );
    // Truncated with a sidecar made to fit: the row count against the provenance.
    const s1 = shard(1, 3, 30);
    await writePair(files[1], lines.slice(0, -6).join("\n") + "\n", s1.prov);
    await assertRejects(
      () => mergeShards(files, out),
      EngramError,
      `${files[1]}: holds 5 rows but its provenance says 10`,
    );
    await writeResults(files[1], s1.table, s1.prov);
    // Shard 0 without the job's first row (a gap at the start of the range).
    const s0 = shard(0, 3, 30), t0 = (await Deno.readTextFile(files[0])).split("\n");
    await writePair(files[0], [t0[0], ...t0.slice(2)].join("\n"), s0.prov);
    await assertRejects(() => mergeShards(files, out), EngramError, `rows ${START}..${START} are missing`);
    await writeResults(files[0], s0.table, s0.prov);
    // The last shard without the job's last row (a gap at the end).
    const s2 = shard(2, 3, 30), t2 = (await Deno.readTextFile(files[2])).split("\n");
    await writePair(files[2], [...t2.slice(0, -2), ""].join("\n"), s2.prov);
    await assertRejects(
      () => mergeShards(files, out),
      EngramError,
      "holds 9 rows but its provenance says 10",
    );
    assertEquals(
      [...Deno.readDirSync(dir)].filter((e) => e.name.includes("m.parquet")),
      [],
      "nothing written",
    );
    await writeResults(files[2], s2.table, s2.prov);
    assertEquals((await mergeShards(files, out)).rows, 30);
  });
});

Deno.test("merge: a bad value in a shard is refused naming the shard, its row and the value; nothing is written", async () => {
  await withTempDir(async (dir) => {
    // Row 4 of shard 1 (CSV): first_mismatch 40 of 32. Row 7 of shard 2 (JSONL): score 2.
    const csv = await writeShards(dir, 3, 30, ".csv");
    const lines = (await Deno.readTextFile(csv[1])).split("\n");
    const cells = lines[4].split(",");
    cells[3] = "40";
    lines[4] = cells.join(",");
    await writePair(csv[1], lines.join("\n"), shard(1, 3, 30).prov);
    const jsonl = await writeShards(dir, 3, 30, ".jsonl");
    const records = (await Deno.readTextFile(jsonl[2])).split("\n");
    records[6] = JSON.stringify({ ...JSON.parse(records[6]), score: 2 });
    await writePair(jsonl[2], records.join("\n"), shard(2, 3, 30).prov);
    for (
      const [files, message] of [
        [csv, `${csv[1]}: row 4 has first_mismatch 40; expected an integer in [0, 32]`],
        [jsonl, `${jsonl[2]}: row 7 has score 2; expected a number in [0, 1]`],
      ] as const
    ) {
      for (const out of [join(dir, "m.parquet"), join(dir, "m.csv")]) {
        await assertRejects(() => mergeShards([...files], out), EngramError, message);
      }
    }
    assertEquals(
      [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("m.") || e.name.startsWith(".m.")),
      [],
      "nothing written",
    );
  });
});

Deno.test("merge: --out that is one of the shards is refused (same path, another spelling, a link)", async () => {
  await withTempDir(async (dir) => {
    const files = await writeShards(dir, 2, 4);
    const before = await Deno.readFile(files[1]);
    for (const out of [files[1], join(dir, ".", "s1.csv"), join(dir, "link.csv")]) {
      if (out.endsWith("link.csv")) await Deno.symlink(files[1], out);
      await assertRejects(() => mergeShards(files, out), EngramError, "is the shard");
    }
    assertEquals(await Deno.readFile(files[1]), before, "the shard is untouched");
    // From the command line: one engram line, exit 1.
    const r = await runCli(["merge", "--out", files[0], ...files]);
    assertEquals(r.code, 1, r.stderr);
    const lines = engramLines(r.stderr);
    assertEquals(lines.length, 1, r.stderr);
    assert(lines[0].startsWith("engram: merge: --out") && lines[0].includes("is the shard"), lines[0]);
  });
});

Deno.test("merge: an existing --out is refused, naming what it holds, unless --force", async () => {
  await withTempDir(async (dir) => {
    const files = await writeShards(dir, 2, 4);
    // Another checkpoint's results where the merged file would go.
    const other = shard(0, 1, 9, { model: "pythia-1b" });
    const { shard: _, ...p } = other.prov;
    const out = join(dir, "m.csv");
    await writeResults(out, other.table, p);
    const before = await Deno.readFile(out);
    await assertRejects(
      () => mergeShards(files, out),
      EngramError,
      `merge: --out ${out} already exists (results of pythia-1b@step143000, 9 rows from ${START}); pass --force`,
    );
    assertEquals(await Deno.readFile(out), before, "kept");
    const r = await runCli(["merge", "--out", out, ...files]);
    assertEquals(r.code, 1, r.stderr);
    assert(engramLines(r.stderr)[0].includes("already exists"), r.stderr);
    assertEquals(await Deno.readFile(out), before, "kept by the command too");
    const forced = await runCli(["merge", "--force", "--out", out, ...files]);
    assertEquals(forced.code, 0, forced.stderr);
    assertEquals((await readResults(out)).provenance?.model, prov().model);
  });
});

Deno.test("merge: a shard's .provenance.json given beside it (dir/*.shard-*) is skipped with a note", async () => {
  await withTempDir(async (dir) => {
    const files = await writeShards(dir, 2, 4, ".jsonl");
    const withSidecars = files.flatMap((f) => [f, `${f}.provenance.json`]);
    const out = join(dir, "m.parquet");
    const r = await runCli(["merge", "--out", out, ...withSidecars]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes("merge: skipped 2 provenance sidecars given beside their data"), r.stderr);
    assertEquals((await readResults(out)).table.index.length, 4);
    // A sidecar without its data file: named, with the file to pass.
    const alone = await runCli([
      "merge",
      "--out",
      join(dir, "n.parquet"),
      files[0],
      `${files[1]}.provenance.json`,
    ]);
    assertEquals(alone.code, 1, alone.stderr);
    assert(
      engramLines(alone.stderr)[0].includes(
        `is the provenance of ${files[1]}, which is not among the shards`,
      ),
      alone.stderr,
    );
    // An unfinished shard's journal or lock (a glob over a folder still being scored): named as such.
    for (
      const [suffix, what] of [[".partial", "journal of an unfinished run of"], [
        ".lock",
        "lock of a run writing",
      ]]
    ) {
      const partial = `${files[1]}${suffix}`;
      await Deno.writeTextFile(partial, "x");
      const r = await runCli(["merge", "--out", join(dir, "n.parquet"), ...withSidecars, partial]);
      assertEquals(r.code, 1, r.stderr);
      assert(engramLines(r.stderr)[0].includes(`${partial} is the ${what} ${files[1]}`), r.stderr);
      await Deno.remove(partial);
    }
  });
});

Deno.test("merge: -Infinity log-probabilities of JSONL shards survive the merge into Parquet and CSV", async () => {
  await withTempDir(async (dir) => {
    const files: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = shard(i, 2, 6, { logprob: true });
      s.table.logprob![1] = -Infinity;
      files.push(join(dir, `s${i}.jsonl`));
      await writeResults(files[i], s.table, s.prov);
    }
    for (const out of [join(dir, "m.parquet"), join(dir, "m.csv"), join(dir, "m.jsonl")]) {
      await mergeShards(files, out);
      const lp = [...(await readResults(out)).table.logprob!];
      assertEquals(lp, [0, -Infinity, -0.25, -0.375, -Infinity, -0.625], out);
    }
  });
});

Deno.test("merge: temporaries a killed run left (named with host and pid) are removed at the next merge into the folder, with a note; others stay", async () => {
  await withTempDir(async (dir) => {
    const files = await writeShards(dir, 2, 4);
    const out = join(dir, "m.parquet");
    // A run killed (SIGKILL) while writing out: its temporary stays, named with this host and its pid.
    const filesModule = new URL("../base/atomic.ts", import.meta.url).href;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { AtomicFile } from "${filesModule}";
         const f = await AtomicFile.create(${JSON.stringify(out)});
         await f.write(new Uint8Array(3 << 20)); await f.close();
         console.log(f.tmp); await new Promise(() => {});`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    const tmp = new TextDecoder().decode(value).trim();
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    const host = Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "_");
    assertEquals(tmp, join(dir, `.m.parquet.tmp-${host}-${child.pid}-1`));
    assertEquals((await Deno.stat(tmp)).size, 3 << 20);
    // Others that stay: a live run's (this one), another host's, an older engram's (no host), not a temporary.
    const kept = [
      `.m.parquet.tmp-${host}-${Deno.pid}-7`,
      `.m.parquet.tmp-elsewhere-${child.pid}-1`,
      `.m.parquet.tmp-${child.pid}-1`,
      `.m.parquet.tmp-${host}-${child.pid}-x`,
    ];
    for (const name of kept) await Deno.writeTextFile(join(dir, name), "x");
    const r = await runCli(["merge", "--out", out, ...files]);
    assertEquals(r.code, 0, r.stderr);
    assert(
      r.stderr.includes(
        `merge: removed 1 temporary file (3.1 MB) that a run killed while writing left in ${dir} ` +
          `(pid ${child.pid} on this host)`,
      ),
      r.stderr,
    );
    assert(!(await Deno.stat(tmp).catch(() => null)), "the dead run's temporary is gone");
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp-")).sort();
    assertEquals(left, [...kept].sort());
    assertEquals((await readResults(out)).table.index.length, 4);
  });
});
