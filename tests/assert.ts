// Minimal assertions (@std/assert is unreachable here): failures throw AssertionError with a readable message.
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size && [...a].every(([k, v]) => b.has(k) && equal(v, b.get(k)));
  }
  if (a instanceof Set && b instanceof Set) return a.size === b.size && [...a].every((v) => b.has(v));
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const [x, y] = [a as unknown as ArrayLike<unknown>, b as unknown as ArrayLike<unknown>];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && equal((a as never)[k], (b as never)[k]));
}

const show = (v: unknown) => Deno.inspect(v, { depth: 6, iterableLimit: 20, strAbbreviateSize: 200 });

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}values differ\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`,
    );
  }
}

export function assertAlmostEquals(actual: number, expected: number, tolerance = 1e-7, msg?: string): void {
  if (!(Math.abs(actual - expected) <= tolerance) && !Object.is(actual, expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}${actual} is not within ${tolerance} of ${expected}`);
  }
}

export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  if (!re.test(actual)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}${JSON.stringify(actual)} does not match ${re}`);
  }
}

type ErrorClass<E extends Error> = new (...args: never[]) => E;

function checkError<E extends Error>(e: unknown, cls?: ErrorClass<E>, includes?: string | RegExp): E {
  if (cls && !(e instanceof cls)) {
    throw new AssertionError(
      `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : show(e)}`,
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  if (typeof includes === "string" && !message.includes(includes)) {
    throw new AssertionError(
      `error message ${JSON.stringify(message)} does not include ${JSON.stringify(includes)}`,
    );
  }
  if (includes instanceof RegExp && !includes.test(message)) {
    throw new AssertionError(`error message ${JSON.stringify(message)} does not match ${includes}`);
  }
  return e as E;
}

export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass<E>,
  includes?: string | RegExp,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new AssertionError("expected function to throw");
}

export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  cls?: ErrorClass<E>,
  includes?: string | RegExp,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new AssertionError("expected promise to reject");
}
