// score as a newcomer runs it: progress where stderr is not a terminal (a log file, nohup, Slurm) as plain lines
// at a steady interval (ENGRAM_PROGRESS_SECONDS; 0 here: every batch), none with --quiet; --step N counts the
// rows per step the suite's own suite.json gives (as the report does), and says where the number came from.
import { readResults } from "../io/results.ts";
import { assert, assertEquals } from "./assert.ts";
import { expectError } from "./cli_contract.ts";
import { PICO_DATA, PICO_MODELS, runCli, withTempDir } from "./helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

async function score(out: string, ...extra: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "score", "--model", `${PICO_MODELS}/pico-1/step273`, "--data", PICO_DATA]
      .concat(["--count", "96", "--batch", "32", "--out", out, ...extra]),
    stdout: "piped",
    stderr: "piped", // not a terminal: what a log receives
    env: { ENGRAM_PROGRESS_SECONDS: "0", NO_COLOR: "1", XDG_RUNTIME_DIR: "/tmp" },
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

const PROGRESS = /^pico-1@step273: (\d+)\/96 rows, \d+\.\d rows\/s, \d+ memorized, ETA \d+s$/;

Deno.test("score into a log: plain progress lines (rows, rows/s, ETA), no terminal codes; --quiet none", async () => {
  await withTempDir(async (dir) => {
    const r = await score(`${dir}/a`);
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stderr.split("\n");
    const rows = lines.flatMap((l) => PROGRESS.exec(l)?.[1] ?? []).map(Number);
    assertEquals(rows, [32, 64], `a line per batch but the last (the summary says it):\n${r.stderr}`);
    assert(!r.stderr.includes("\r") && !r.stderr.includes("\x1b["), "no in-place rewriting in a log");
    assert(lines.some((l) => /^pico-1@step273: 96 rows, \d+ memorized \([\d.]+ rows\/s/.test(l)), r.stderr);
    const quiet = await score(`${dir}/b`, "--quiet");
    assertEquals(quiet.code, 0, quiet.stderr);
    assertEquals(quiet.stderr.split("\n").filter((l) => l.startsWith("pico-1@step273:")), [], quiet.stderr);
  });
});

Deno.test("ENGRAM_PROGRESS_SECONDS that is not a number of seconds is one line", async () => {
  await withTempDir(async (dir) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "score", "--count", "4", "--out", dir],
      stderr: "piped",
      stdout: "null",
      env: { ENGRAM_PROGRESS_SECONDS: "soon" },
    }).output();
    assertEquals(r.code, 1);
    const err = new TextDecoder().decode(r.stderr).trim();
    assert(/^engram: ENGRAM_PROGRESS_SECONDS must be a number of seconds/.test(err), err);
  });
});

Deno.test("score --step N on the pico suite: N × its suite.json's 64 rows per step; an overreach names --rows-per-step", async () => {
  await withTempDir(async (dir) => {
    const r = await runCli(
      ["score", "--models", "pico-1", "--revisions", "step273", "--step", "3", "--out", dir, "--quiet"],
    );
    assertEquals(r.code, 0, r.stderr);
    const results = await readResults(`${dir}/pico-1@step273.parquet`);
    assertEquals([results.provenance?.start, results.provenance?.count, results.table.index.length], [
      0,
      3 * 64,
      192,
    ]);
    // --rows-per-step still rules; a step past the data's 2048 rows says how its rows were counted.
    await expectError(
      ["score", "--models", "pico-1", "--revisions", "step273", "--step", "40", "--out", `${dir}/b`],
      ["rows [0, 2560)", "40 × 64 rows per step", "pico/suite.json", "--rows-per-step"],
    );
    await expectError(
      ["score", "--models", "pico-1", "--step", "3", "--rows-per-step", "1024", "--out", `${dir}/c`],
      ["rows [0, 3072)", "3 × 1024 rows per step, from --rows-per-step"],
    );
  });
});
