// The command line's help: every command has its own line in the overview and answers --help with its usage (not
// its work); the defaults score's help states are the ones the adapter at hand gets.
import { COMMANDS as CLI_COMMANDS } from "../cli.ts";
import { Gpu } from "../engine/gpu.ts";
import { SCORE_HELP } from "../cli/score.ts";
import { assert, assertEquals } from "./assert.ts";
import { runCli } from "./helpers.ts";

const COMMANDS = Object.keys(CLI_COMMANDS);
/** How a usage line names command `c` (`deno run -A cli.ts c` or the `engram c` wrapper). */
const names = (c: string) => new RegExp(`(cli\\.ts|engram) ${c}\\b`);

Deno.test("the overview gives every command a line of its own", async () => {
  const r = await runCli(["--help"]);
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  for (const c of COMMANDS) {
    const own = lines.filter((l) => names(c).test(l));
    assertEquals(own.length, 1, `one line for ${c}:\n${r.stdout}`);
    assert(own[0].replace(names(c), "").trim().length > 10, `the line says what ${c} does: ${own[0]}`);
  }
});

for (const c of COMMANDS) {
  Deno.test(`${c} --help prints its usage and does nothing else`, async () => {
    const r = await runCli([c, "--help"], { timeoutMs: 120_000 });
    assertEquals(r.code, 0, r.stderr);
    assert(names(c).test(r.stdout.split("\n")[0]), `the first line is ${c}'s usage:\n${r.stdout}`);
    assert(!r.stdout.trimStart().startsWith("{"), `${c} --help printed output instead of help:\n${r.stdout}`);
  });
}

Deno.test("score --help states the batch and --gpu-memory defaults this adapter gets", async () => {
  const gpu = await Gpu.open();
  try {
    const kind = gpu.isCpu ? "a CPU adapter" : "a GPU";
    const { batch, memoryGiB } = gpu.defaults;
    const line = (flag: string) => SCORE_HELP.split("\n").find((l) => l.trimStart().startsWith(flag)) ?? "";
    assert(line("--batch").includes(`${batch} on ${kind}`), `--batch default ${batch}: ${line("--batch")}`);
    assert(
      line("--gpu-memory").includes(`${memoryGiB} on ${kind}`),
      `--gpu-memory default ${memoryGiB}: ${line("--gpu-memory")}`,
    );
  } finally {
    gpu.destroy();
  }
});

Deno.test("help texts: ./engram, not cli.ts; one flag name, one meaning; tune's and bench's synopses list every option", async () => {
  const help: Record<string, string> = {};
  for (const c of COMMANDS) {
    const r = await runCli([c, "--help"], { timeoutMs: 120_000 });
    assertEquals(r.code, 0, r.stderr);
    help[c] = r.stdout;
    assert(!/cli\.ts/.test(r.stdout), `${c} --help names cli.ts, not ./engram:\n${r.stdout}`);
  }
  // --kernels was bench's switch for timing the matmuls and tune's choice of family: now --matmuls and
  // --kernel-family cpu|gpu, the latter the same in both.
  for (const c of COMMANDS) assert(!/--kernels\b/.test(help[c]), `${c} --help has --kernels:\n${help[c]}`);
  for (const c of ["bench", "tune"]) {
    assert(/--kernel-family (cpu\|gpu|F)/.test(help[c]), `${c}: --kernel-family cpu|gpu`);
    // The synopsis (lines up to the first that does not continue it) lists every option described below it.
    const lines = help[c].split("\n");
    const end = lines.findIndex((l, i) => i > 0 && !/^\s+\[/.test(l));
    const synopsis = lines.slice(0, end).join(" ");
    for (const flag of lines.slice(end).flatMap((l) => /^\s+(--[a-z-]+)/.exec(l)?.[1] ?? [])) {
      if (flag === "--help") continue;
      assert(synopsis.includes(flag), `${c}'s synopsis lacks ${flag}:\n${lines.slice(0, end).join("\n")}`);
    }
  }
});
