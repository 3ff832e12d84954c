// Sets of rows as bitsets: row i is in the set when bit i & 31 of word i >>> 5 is set. One bit a row keeps a
// model@revision's memorized set small at Pythia's scale (146M rows: 18 MB); pair counts are AND + popcount.

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

/** Set bits of one 32-bit word. */
export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Rows in the set. */
export function count(a: Bitset): number {
  let n = 0;
  for (let w = 0; w < a.length; w++) n += popcount(a[w]);
  return n;
}

/** Rows in both sets (|a ∩ b|), without building the intersection. */
export function countAnd(a: Bitset, b: Bitset): number {
  let n = 0;
  for (let w = 0; w < a.length; w++) n += popcount(a[w] & b[w]);
  return n;
}

/** a ∩ b as a new set. */
export function and(a: Bitset, b: Bitset): Bitset {
  const out = new Uint32Array(a.length);
  for (let w = 0; w < a.length; w++) out[w] = a[w] & b[w];
  return out;
}

/** a ∪ b as a new set. */
export function or(a: Bitset, b: Bitset): Bitset {
  const out = new Uint32Array(a.length);
  for (let w = 0; w < a.length; w++) out[w] = a[w] | b[w];
  return out;
}

/** Rows of `a` not in `b`, the first `limit` of them in ascending order. */
export function firstRowsNotIn(a: Bitset, b: Bitset, limit: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < a.length && out.length < limit; w++) {
    let x = a[w] & ~b[w];
    while (x !== 0 && out.length < limit) {
      const bit = 31 - Math.clz32(x & -x);
      out.push(w * 32 + bit);
      x &= x - 1;
    }
  }
  return out;
}

/** Calls fn(i) for every row i in the set, ascending (a whole word at a time where all 32 are in). */
export function forEachRow(a: Bitset, fn: (i: number) => void): void {
  for (let w = 0; w < a.length; w++) {
    let x = a[w];
    if (x === 0xffffffff) {
      for (let i = w * 32, end = i + 32; i < end; i++) fn(i);
      continue;
    }
    while (x !== 0) {
      fn(w * 32 + 31 - Math.clz32(x & -x));
      x &= x - 1;
    }
  }
}

/** The rows of `bits` among those of `mask`, renumbered: row k of the result is the k-th row of `mask`. */
export function compactBitset(bits: Bitset, mask: Bitset): Bitset {
  let k = 0;
  const out = emptyBitset(count(mask));
  forEachRow(mask, (i) => {
    if (hasRow(bits, i)) addRow(out, k);
    k++;
  });
  return out;
}
