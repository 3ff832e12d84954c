// What a terminal shows (run under util-linux's `script`, which gives the command a pseudo-terminal): tune's
// per-shape lines are progress rewritten in place, so each shape's line of its table appears once.
import { assert, assertEquals } from "./assert.ts";
import { PICO_MODELS, withTempDir } from "./helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** The lines a terminal ends up showing: on each, what follows its last carriage return. */
function shown(output: string): string[] {
  return output.replace(/\r\n/g, "\n").split("\n").map((l) => l.slice(l.lastIndexOf("\r") + 1))
    .map((l) => l.replaceAll("\x1b[K", ""));
}

Deno.test("tune on a terminal shows its table once: the per-shape lines are progress, rewritten in place", async () => {
  await withTempDir(async (dir) => {
    const command = [Deno.execPath(), "run", "-A", CLI, "tune", "--model", `${PICO_MODELS}/pico-1/step273`]
      .concat([
        "--tuning",
        `${dir}/tuning.json`,
        "--timing-ms",
        "1",
        "--variants",
        "d64x64-8x8",
        "--kernel-family",
        "cpu",
      ]).map((a) => `'${a}'`).join(" ");
    const out = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, text);
    const lines = shown(text);
    for (const shape of ["prefill qkv", "decode mlp down", "decode unembed+argmax"]) {
      const showing = lines.filter((l) => l.trimStart().startsWith(`${shape} `));
      assertEquals(showing.length, 1, `${shape}:\n${lines.join("\n")}`);
      assert(/GFLOP\/s/.test(showing[0]), showing[0]);
    }
  });
});
