// engram's command line: `./engram <command> [options]`, i.e. `deno run -A cli.ts <command> [options]` (each
// command takes --help).
import { EngramError } from "./base/errors.ts";
import { Gpu } from "./engine/gpu.ts";
import { importLazily } from "./io/lazy.ts";

const INFO_HELP = "Prints the WebGPU adapter engram runs on (as JSON): its description, features and limits.";

const USAGE = `engram: memorization of training data by GPT-NeoX (Pythia) models, on WebGPU

  ./engram score     score training rows for memorization (default: the embedded pico demo)
  ./engram report    forecasting analysis and report of scoring results
  ./engram merge     join shard results (score --shard i/N) into one file
  ./engram download  models and datasets from the Hugging Face Hub into its cache (score --model ORG/NAME)
  ./engram demo      score the embedded pico suite and write its report
  ./engram bench     rows/s per mode and matmul GFLOP/s on this adapter
  ./engram tune      time the matmul variants at a model's shapes and keep the fastest (per adapter)
  ./engram logits    logits at every position of token rows
  ./engram generate  greedy continuations of token rows
  ./engram info      the WebGPU adapter, its features and limits
Each command takes --help. ./engram runs deno run -A cli.ts with the pinned Deno (on PATH, or through npx).`;

async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  switch (command) {
    case "score":
      await (await importLazily<typeof import("./cli/score.ts")>("./cli/score.ts", import.meta.url))
        .scoreCommand(rest);
      return;
    case "report":
      await (await importLazily<typeof import("./cli/report.ts")>("./cli/report.ts", import.meta.url))
        .reportCommand(rest);
      return;
    case "merge":
      await (await importLazily<typeof import("./cli/merge.ts")>("./cli/merge.ts", import.meta.url))
        .mergeCommand(rest);
      return;
    case "download":
      await (await importLazily<typeof import("./cli/download.ts")>("./cli/download.ts", import.meta.url))
        .downloadCommand(rest);
      return;
    case "demo":
      await (await importLazily<typeof import("./cli/demo.ts")>("./cli/demo.ts", import.meta.url))
        .demoCommand(rest);
      return;
    case "bench":
      await (await importLazily<typeof import("./cli/bench.ts")>("./cli/bench.ts", import.meta.url))
        .benchCommand(rest);
      return;
    case "tune":
      await (await importLazily<typeof import("./cli/tune.ts")>("./cli/tune.ts", import.meta.url))
        .tuneCommand(rest);
      return;
    case "logits":
    case "generate":
      await (await importLazily<typeof import("./cli/infer.ts")>("./cli/infer.ts", import.meta.url))
        .inferCommand(command, rest, () => Gpu.open());
      return;
    case "info": {
      const { parseArgs } = await importLazily<typeof import("./cli/args.ts")>(
        "./cli/args.ts",
        import.meta.url,
      );
      if (parseArgs(rest, { help: { type: "boolean" } }, "info").values.help) {
        console.log(`./engram info\n  ${INFO_HELP}`);
        return;
      }
      const gpu = await Gpu.open();
      console.log(JSON.stringify(gpu.summary(), null, 1));
      gpu.destroy();
      return;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return;
    default:
      throw new EngramError(
        `unknown command "${command}"; commands: score, report, merge, download, demo, bench, tune, logits, generate, info`,
      );
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
    // WebGPU keeps the event loop alive in some Deno builds; leave explicitly once the work is done.
    Deno.exit(0);
  } catch (e) {
    if (e instanceof EngramError) {
      console.error(`engram: ${e.message}`);
      Deno.exit(1);
    }
    if (Deno.env.get("ENGRAM_DEBUG")) console.error(e);
    console.error(
      `engram: internal error: ${(e as Error)?.message ?? e} (rerun with ENGRAM_DEBUG=1 for details)`,
    );
    Deno.exit(70);
  }
}
