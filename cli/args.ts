// Command-line parsing behind one module: node:util's parseArgs is built into Deno (JSR's @std/cli is unreachable).
import { parseArgs as nodeParseArgs } from "node:util";
import { EngramError } from "../base/errors.ts";

/** The options a command takes, by long name, as node:util's parseArgs reads them. */
export type OptionSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

/** What parseArgs returns: the option `values` (typed by the options given) and the `positionals`. */
export type ParsedArgs<T extends OptionSpec> = ReturnType<
  typeof nodeParseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
>;

/** Parses `argv` against `options`; an unknown flag or a missing or empty value is one clear EngramError. */
export function parseArgs<T extends OptionSpec>(argv: string[], options: T, command: string): ParsedArgs<T> {
  let parsed;
  try {
    parsed = nodeParseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'(-[^' ]*)/.exec(err.message)?.[1];
    // node's messages run over several lines and speak of option arguments; say it in one line, our way.
    const what = err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag
      ? `unknown option ${flag}`
      : /ambiguous/.test(err.message) && flag
      ? `the value of ${flag} starts with "-" (a negative number or a missing value?)`
      : /argument missing/.test(err.message) && flag
      ? `${flag} needs a value`
      : err.message.split("\n")[0].split(". ")[0];
    throw new EngramError(`${command}: ${what} (see: ./engram ${command} --help)`);
  }
  // An empty value is a variable that expanded to nothing: as a path it would name the current folder.
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === "" || (Array.isArray(value) && value.includes(""))) {
      throw new EngramError(
        `${command}: --${name} is empty (""); give a value (see: ./engram ${command} --help)`,
      );
    }
  }
  return parsed;
}

/** An integer flag in plain decimal digits (no sign, hex, exponent or blank): undefined stays undefined. */
export function intFlag(value: string | undefined, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new EngramError(`--${name} must be a whole number ≥ ${min} in decimal digits, got "${value}"`);
  }
  return n;
}

/** Comma-separated list flag --`name`, or undefined; an empty item (",", "a,,b", "a,") is refused, not skipped. */
export function listFlag(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(",").map((s) => s.trim());
  const empty = items.indexOf("");
  if (empty >= 0) {
    throw new EngramError(
      `--${name} "${value}": item ${empty + 1} is empty; separate the names by single commas`,
    );
  }
  return items;
}
