// Command-line parsing behind one module: node:util's parseArgs is built into Deno (JSR's @std/cli is unreachable).
import { parseArgs as nodeParseArgs } from "node:util";
import { EngramError } from "../engine/errors.ts";

export type OptionSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

/** Parses `argv` against `options`; an unknown flag or a missing value is one clear EngramError. */
export function parseArgs<T extends OptionSpec>(argv: string[], options: T, command: string) {
  try {
    return nodeParseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'(-[^']*)'/.exec(err.message)?.[1];
    const what = err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag
      ? `unknown option ${flag}`
      : err.message.split(". ")[0];
    throw new EngramError(`${command}: ${what} (see: deno run -A cli.ts ${command} --help)`);
  }
}

/** A numeric flag: undefined stays undefined, anything else must be a finite integer ≥ min. */
export function intFlag(value: string | undefined, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new EngramError(`--${name} must be an integer ≥ ${min}, got "${value}"`);
  }
  return n;
}
