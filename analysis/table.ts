// Arquero, and the types its table expressions take in TypeScript (d: a row, $: the table's params; inside
// an expression, op.* are evaluated by Arquero over values, so they are typed loosely here).
import * as aq from "arquero";

export { aq };
// deno-lint-ignore no-explicit-any
export const op: Record<string, (...args: any[]) => any> = aq.op;
export type Table = aq.ColumnTable;
// deno-lint-ignore no-explicit-any
export type Row = Record<string, any>;
// deno-lint-ignore no-explicit-any
export type Params = Record<string, any>;
