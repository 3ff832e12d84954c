// Sets of analysed rows as bitsets: row i (its position among the analysed rows, not its index in the training
// data) is in the set when bit i & 31 of word i >>> 5 is set. One bit a row keeps a target's memorized set
// small at Pythia's scale (146M rows: 18 MB).

/** A set of row positions: bit `i & 31` of word `i >>> 5` is row i. */
export type Bitset = Uint32Array;

/** An empty bitset for `rows` rows. */
export const emptyBitset = (rows: number): Bitset => new Uint32Array((rows + 31) >>> 5);

/** Whether row i is in the set. */
export const hasRow = (bits: Bitset, i: number): boolean => ((bits[i >>> 5] >>> (i & 31)) & 1) === 1;

/** Puts row i in the set. */
export function addRow(bits: Bitset, i: number): void {
  bits[i >>> 5] |= 1 << (i & 31);
}

/** The bitset of the rows whose flag is non-zero (e.g. a 0/1 `memorized` column). */
export function bitsetFromFlags(flags: ArrayLike<number>): Bitset {
  const bits = emptyBitset(flags.length);
  for (let i = 0; i < flags.length; i++) if (flags[i]) addRow(bits, i);
  return bits;
}

/** How many of rows 0..rows-1 are in the set. */
export function countRows(bits: Bitset, rows: number): number {
  let n = 0;
  for (let i = 0; i < rows; i++) n += (bits[i >>> 5] >>> (i & 31)) & 1;
  return n;
}
