// Shared by the results and merge tests: a provenance to vary, a CRC-32 computed bit by bit (independently of
// base/atomic.ts), and CSV/JSONL data written with a sidecar that matches it (to plant bad rows behind a valid pair).
import type { Provenance } from "../io/results.ts";

export function prov(over: Partial<Provenance> = {}): Provenance {
  return {
    model: "pythia-70m-deduped",
    revision: "step143000",
    model_path: "/models/pythia-70m-deduped/step143000",
    params: 70426624,
    config_hash: "0123456789abcdef",
    data: "/data/pile_deduped",
    prompt: 32,
    continuation: 32,
    offset: 0,
    mode: "score",
    paper_compatible: true,
    logprob: false,
    engram_version: "0.1.0",
    adapter: "test adapter",
    start: 0,
    count: 4,
    rows: 4,
    created: "2025-01-01T00:00:00.000Z",
    ...over,
  };
}

/** CRC-32 (zlib's), one bit at a time. */
export function crc32(bytes: Uint8Array): string {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
}

/** Writes `text` as a CSV/JSONL results file with a sidecar that belongs to it. */
export async function writePair(path: string, text: string, p: Provenance): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  await Deno.writeFile(path, bytes);
  await Deno.writeTextFile(
    `${path}.provenance.json`,
    JSON.stringify({ ...p, results_file: { bytes: bytes.length, crc32: crc32(bytes) } }),
  );
}
