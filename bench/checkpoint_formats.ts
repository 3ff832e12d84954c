// Load cost of pytorch_model.bin vs model.safetensors (not a test): the same random f16 Pythia-shaped weights in
// both formats (`/usr/bin/python3 fixtures/torch/make.py bench DIR 410m` writes DIR/safetensors and DIR/bin, the
// .bin with Pythia's buffers as the step branches hold them), each loaded in its own process so that its peak RSS
// (VmHWM) is its own:
//   - open: checkpointFiles + CheckpointReader.open (headers, or the zip directory and data.pkl);
//   - read: every weight tensor read once (what NeoXModel.load reads);
//   - load: NeoXModel.load onto the GPU adapter (lavapipe on a CPU machine), open and read included.
//
//   deno run -A bench/checkpoint_formats.ts DIR [--repeat 2]
import { CheckpointReader } from "../engine/checkpoint.ts";
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { join } from "../base/path.ts";

const peakRss = async () =>
  Number(/VmHWM:\s+(\d+) kB/.exec(await Deno.readTextFile("/proc/self/status"))![1]) / 1024;

if (Deno.args[0] === "--child") {
  const [, dir, what] = Deno.args;
  const t0 = performance.now();
  let bytes = 0;
  if (what === "read") {
    const c = await CheckpointReader.open(dir);
    const opened = performance.now();
    for (const name of c.tensors.keys()) bytes += (await c.read(name)).length;
    c.close();
    console.log(
      JSON.stringify({ open: opened - t0, ms: performance.now() - t0, bytes, rss: await peakRss() }),
    );
  } else {
    const gpu = await Gpu.open();
    const t1 = performance.now();
    const model = await NeoXModel.load(gpu, dir);
    bytes = model.weightBytes;
    const ms = performance.now() - t1;
    model.destroy();
    console.log(JSON.stringify({ ms, bytes, rss: await peakRss() }));
    gpu.destroy();
  }
  Deno.exit(0);
}

const root = Deno.args[0];
const repeat = Deno.args.includes("--repeat") ? Number(Deno.args[Deno.args.indexOf("--repeat") + 1]) : 1;
const rows: string[] = [];
for (let r = 0; r < repeat; r++) {
  for (const what of ["read", "load"]) {
    for (const format of ["safetensors", "bin"]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, "--child", join(root, format), what],
        env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
        stderr: "inherit",
      }).output();
      const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
      const m = JSON.parse(line);
      rows.push(
        `| ${what} | ${format} | ${m.open === undefined ? "" : m.open.toFixed(0)} | ${
          (m.ms / 1000).toFixed(2)
        } | ${(m.bytes / 2 ** 20).toFixed(0)} | ${m.rss.toFixed(0)} |`,
      );
      console.log(rows.at(-1));
    }
  }
}
console.log("\n| step | format | open ms | s | MiB | peak RSS MiB |\n| --- | --- | --- | --- | --- | --- |");
console.log(rows.join("\n"));
