// engram's version, from deno.json (one source of truth for provenance and `info`).
import denoJson from "../deno.json" with { type: "json" };

/** engram's version (deno.json's "version"). */
export const ENGRAM_VERSION: string = denoJson.version;
