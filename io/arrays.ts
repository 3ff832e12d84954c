// The typed arrays a reader fills for each batch it yields.

/**
 * Arrays by name, one batch at a time: fresh ones for every batch, or (`reuse`) one per name, grown when too
 * short, that each batch overwrites (for readers done with a batch when they ask for the next: fresh memory is
 * paid page by page, and cost more than decoding into it).
 */
export class BatchArrays {
  private readonly arrays = new Map<string, unknown>();

  /** Arrays that each batch overwrites (`reuse`), or fresh ones. */
  constructor(readonly reuse: boolean) {}

  /** `n` elements for `name` (always of the same type `Type`). */
  get<A extends { length: number; subarray(begin: number, end: number): A }>(
    name: string,
    n: number,
    Type: new (n: number) => A,
  ): A {
    if (!this.reuse) return new Type(n);
    let a = this.arrays.get(name) as A | undefined;
    if (!a || a.length < n) this.arrays.set(name, a = new Type(n));
    return a.subarray(0, n);
  }
}
