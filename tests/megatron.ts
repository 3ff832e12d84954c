// Small Megatron MMapIndexedDataset (version 1) files for the tests: .idx (header, sizes, pointers, doc index) + .bin.

/** Writes a Megatron MMapIndexedDataset pair (prefix.idx/.bin) with contiguous rows. */
export async function writeMegatron(
  prefix: string,
  rows: number[][],
  opts: { magic?: string; version?: number; code?: number; elemSize?: number } = {},
): Promise<void> {
  const es = opts.elemSize ?? 2, n = rows.length;
  const idx = new DataView(new ArrayBuffer(34 + n * 12 + (n + 1) * 8));
  const magic = opts.magic ?? "MMIDIDX\0\0";
  for (let i = 0; i < 9; i++) idx.setUint8(i, magic.charCodeAt(i));
  idx.setBigUint64(9, BigInt(opts.version ?? 1), true);
  idx.setUint8(17, opts.code ?? 8);
  idx.setBigUint64(18, BigInt(n), true);
  idx.setBigUint64(26, BigInt(n + 1), true);
  const bin = new DataView(new ArrayBuffer(rows.reduce((s, r) => s + r.length * es, 0)));
  let pointer = 0;
  rows.forEach((row, i) => {
    idx.setInt32(34 + i * 4, row.length, true);
    idx.setBigInt64(34 + n * 4 + i * 8, BigInt(pointer), true);
    for (const t of row) {
      if (es === 2) bin.setUint16(pointer, t, true);
      else bin.setInt32(pointer, t, true);
      pointer += es;
    }
  });
  for (let i = 0; i <= n; i++) idx.setBigInt64(34 + n * 12 + i * 8, BigInt(i), true); // one document a row
  await Deno.writeFile(`${prefix}.idx`, new Uint8Array(idx.buffer));
  await Deno.writeFile(`${prefix}.bin`, new Uint8Array(bin.buffer));
}

/** `count` rows of `length` valid pico token ids. */
export function tokenRows(count: number, length = 64): number[][] {
  return Array.from(
    { length: count },
    (_, r) => Array.from({ length }, (_, p) => (r * 131 + p * 17) % 1000 + 1),
  );
}
