// Imports that Deno's module graph does not see.

/**
 * `import(specifier)` resolved at run time only. Deno installs every npm package of deno.lock (about 80, ~10 s
 * on a fresh machine) as soon as one npm import is anywhere in a command's module graph, and that graph
 * follows dynamic imports whose specifier is a literal. Modules that need npm packages are reached through
 * this, so the commands that need none (info, logits, generate, score of token data, merge, bench, tune) start
 * at once; `base` is `import.meta.url` for a relative path.
 */
export function importLazily<T>(specifier: string, base?: string): Promise<T> {
  return import(base === undefined ? specifier : new URL(specifier, base).href);
}
