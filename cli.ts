// engram's command line: `./engram <command> [options]`, i.e. `deno run -A cli.ts <command> [options]` (each
// command takes --help).
import { EngramError } from "./base/errors.ts";
import { Gpu } from "./engine/gpu.ts";
import { importLazily } from "./base/lazy.ts";

const INFO_HELP = "Prints the WebGPU adapter engram runs on (as JSON): its description, features and limits.";

/** A command: what it does (its line in the overview) and how it runs (its module imported only then). */
export interface Command {
  /** Its line in the overview (`./engram --help`). */
  summary: string;
  /** Runs it on its arguments (those after the command's name). */
  run(args: string[]): Promise<unknown>;
}

/** cli/`name`.ts, imported when its command runs (those that need npm packages are not in cli.ts's graph). */
const command = <T>(name: string) => importLazily<T>(`./cli/${name}.ts`, import.meta.url);

const infer = async (name: "logits" | "generate", args: string[]) =>
  (await command<typeof import("./cli/infer.ts")>("infer")).inferCommand(name, args, () => Gpu.open());

async function info(args: string[]): Promise<void> {
  const { parseArgs } = await command<typeof import("./cli/args.ts")>("args");
  if (parseArgs(args, { help: { type: "boolean" } }, "info").values.help) {
    console.log(`./engram info\n  ${INFO_HELP}`);
    return;
  }
  const gpu = await Gpu.open();
  console.log(JSON.stringify(gpu.summary(), null, 1));
  gpu.destroy();
}

/** Every command, in the overview's order: the one list the overview, the dispatch and the tests read. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  score: {
    summary: "score training rows for memorization (default: the embedded pico demo)",
    run: async (args) => (await command<typeof import("./cli/score.ts")>("score")).scoreCommand(args),
  },
  report: {
    summary: "forecasting analysis and report of scoring results",
    run: async (args) => (await command<typeof import("./cli/report.ts")>("report")).reportCommand(args),
  },
  merge: {
    summary: "join shard results (score --shard i/N) into one file",
    run: async (args) => (await command<typeof import("./cli/merge.ts")>("merge")).mergeCommand(args),
  },
  download: {
    summary: "models and datasets from the Hugging Face Hub into its cache (score --model ORG/NAME)",
    run: async (args) =>
      (await command<typeof import("./cli/download.ts")>("download")).downloadCommand(args),
  },
  demo: {
    summary: "score the embedded pico suite and write its report",
    run: async (args) => (await command<typeof import("./cli/demo.ts")>("demo")).demoCommand(args),
  },
  bench: {
    summary: "rows/s per mode and matmul GFLOP/s on this adapter",
    run: async (args) => (await command<typeof import("./cli/bench.ts")>("bench")).benchCommand(args),
  },
  tune: {
    summary: "time the matmul variants at a model's shapes and keep the fastest (per adapter)",
    run: async (args) => (await command<typeof import("./cli/tune.ts")>("tune")).tuneCommand(args),
  },
  logits: { summary: "logits at every position of token rows", run: (args) => infer("logits", args) },
  generate: { summary: "greedy continuations of token rows", run: (args) => infer("generate", args) },
  info: { summary: "the WebGPU adapter, its features and limits", run: info },
};

const USAGE = `engram: memorization of training data by GPT-NeoX (Pythia) models, on WebGPU

${Object.entries(COMMANDS).map(([name, c]) => `  ./engram ${name.padEnd(10)}${c.summary}`).join("\n")}
Each command takes --help. ./engram runs deno run -A cli.ts with the pinned Deno (on PATH, or through npx).`;

async function main(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  if (name === undefined || ["help", "--help", "-h"].includes(name)) console.log(USAGE);
  else if (Object.hasOwn(COMMANDS, name)) await COMMANDS[name].run(rest);
  else throw new EngramError(`unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(", ")}`);
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
