// SHA-256 as hex digits: the identities of configs (engine/config.ts) and of file contents (io/files.ts).

/** The first `digits` hex digits (at most 64) of the SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>, digits: number): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest.subarray(0, Math.ceil(digits / 2))].map((b) => b.toString(16).padStart(2, "0")).join("")
    .slice(0, digits);
}
