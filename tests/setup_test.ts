// scripts/setup.sh, run as the tasks run it, against a stand-in apt-get (and id, ldconfig) on a PATH of its own:
// the demo asks only for the Vulkan driver, and when apt fails its own last lines and the very command that ran
// are shown.
import { assert, assertEquals } from "./assert.ts";
import { withTempDir } from "./helpers.ts";

const SETUP = new URL("../scripts/setup.sh", import.meta.url).pathname;

/**
 * Runs `sh scripts/setup.sh <set>` as root (a stub id) with no Vulkan loader (a stub ldconfig that lists none)
 * and an apt-get that records its arguments and, for `install`, fails as apt does while another process holds
 * the dpkg lock when `failInstall`.
 */
async function runSetup(set: string, failInstall: boolean) {
  let result = { code: -1, stderr: "", aptCalls: [] as string[] };
  await withTempDir(async (dir) => {
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    for (const tool of ["ls", "grep", "tail", "sed", "mktemp", "rm", "sh", "cat"]) {
      const real = ["/usr/bin", "/bin"].map((d) => `${d}/${tool}`).find((p) => {
        try {
          return Deno.statSync(p).isFile;
        } catch {
          return false;
        }
      });
      if (real) await Deno.symlink(real, `${bin}/${tool}`);
    }
    const script = (body: string) => `#!/bin/sh\n${body}\n`;
    await Deno.writeTextFile(`${bin}/id`, script("echo 0"), { mode: 0o755 });
    await Deno.writeTextFile(`${bin}/ldconfig`, script("exit 0"), { mode: 0o755 });
    await Deno.writeTextFile(
      `${bin}/apt-get`,
      script(
        `echo "apt-get $*" >> ${dir}/calls\n` +
          (failInstall
            ? `case "$1 $2 $3" in *install*) echo "Reading package lists..."; ` +
              `echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt)" >&2; ` +
              `exit 100;; esac`
            : ""),
      ),
      { mode: 0o755 },
    );
    const out = await new Deno.Command("/bin/sh", {
      args: [SETUP, set],
      env: { PATH: bin, TMPDIR: dir },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const calls = await Deno.readTextFile(`${dir}/calls`).catch(() => "");
    result = {
      code: out.code,
      stderr: new TextDecoder().decode(out.stderr),
      aptCalls: calls.split("\n").filter((l) => l !== ""),
    };
  });
  return result;
}

Deno.test("setup demo installs only the Vulkan driver; a failing apt is shown with its own words and the command", async () => {
  const r = await runSetup("demo", true);
  assertEquals(r.code, 1, r.stderr);
  const installs = r.aptCalls.filter((c) => / install /.test(c));
  assertEquals(installs.length, 1, r.aptCalls.join("\n"));
  assert(/ mesa-vulkan-drivers libvulkan1$/.test(installs[0]), installs[0]);
  for (const pkg of ["chromium", "slurm-wlm", "munge"]) assert(!r.aptCalls.join(" ").includes(pkg), pkg);
  assert(r.stderr.includes("It is held by process 4242 (apt)"), `apt's words shown:\n${r.stderr}`);
  // The command suggested is the one that ran, each apt-get call as it ran.
  const suggested = r.stderr.split("\n").find((l) => l.includes("run as root:")) ?? "";
  for (const call of r.aptCalls) assert(suggested.includes(call), `"${call}" in: ${suggested}`);
});

Deno.test("setup test installs the test packages too; setup with an unknown set is refused", async () => {
  const r = await runSetup("test", false);
  assertEquals(r.code, 0, r.stderr);
  const installed = r.aptCalls.filter((c) => / install /.test(c)).join(" ");
  for (const pkg of ["mesa-vulkan-drivers", "chromium"]) assert(installed.includes(pkg), installed);
  const bad = await runSetup("everything", false);
  assertEquals(bad.code, 2, bad.stderr);
  assertEquals(bad.aptCalls, []);
});
