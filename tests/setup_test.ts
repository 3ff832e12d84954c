// A newcomer's first commands, against stand-ins on a PATH of their own: scripts/setup.sh as the tasks run it
// (a stand-in apt-get, id, ldconfig): the demo asks only for the Vulkan driver, and when apt fails its own last
// lines and the very command that ran are shown; ./engram with Deno on PATH or through npx, update notices off.
import { assert, assertEquals } from "./assert.ts";
import { withTempDir } from "./helpers.ts";

const SETUP = new URL("../scripts/setup.sh", import.meta.url).pathname;
const WRAPPER = new URL("../engram", import.meta.url).pathname;

/** Links the real `tools` into `bin` (a PATH of their own for the scripts under test). */
async function linkTools(bin: string, tools: string[]): Promise<void> {
  for (const tool of tools) {
    const real = ["/usr/bin", "/bin"].map((d) => `${d}/${tool}`).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    if (real) await Deno.symlink(real, `${bin}/${tool}`);
  }
}

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
    await linkTools(bin, ["ls", "grep", "tail", "sed", "mktemp", "rm", "sh", "cat"]);
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

Deno.test("./engram runs the pinned Deno from PATH, else through npx, with Deno's and npm's update notices off", async () => {
  await withTempDir(async (dir) => {
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    await linkTools(bin, ["sh", "grep", "dirname"]);
    const say =
      'echo "DENO_NO_UPDATE_CHECK=$DENO_NO_UPDATE_CHECK npm_config_update_notifier=$npm_config_update_notifier $0 $*"';
    await Deno.writeTextFile(`${bin}/npx`, `#!/bin/sh\n${say}\n`, { mode: 0o755 });
    const run = async () => {
      const out = await new Deno.Command("/bin/sh", {
        args: [WRAPPER, "info"],
        env: { PATH: bin },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).trim();
    };
    const viaNpx = await run();
    assert(viaNpx.startsWith("DENO_NO_UPDATE_CHECK=1 npm_config_update_notifier=false "), viaNpx);
    assert(viaNpx.endsWith(`/npx -y deno@2.9.6 run -A ${WRAPPER.replace(/engram$/, "cli.ts")} info`), viaNpx);
    await Deno.writeTextFile(
      `${bin}/deno`,
      `#!/bin/sh\n[ "$1" = --version ] && echo "deno 2.9.6 (stable)" && exit 0\n${say}\n`,
      { mode: 0o755 },
    );
    const onPath = await run();
    assert(onPath.startsWith("DENO_NO_UPDATE_CHECK=1 "), onPath);
    assert(onPath.endsWith(`/deno run -A ${WRAPPER.replace(/engram$/, "cli.ts")} info`), onPath);
  });
});
