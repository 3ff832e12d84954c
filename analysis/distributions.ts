// The distribution functions the report's tests of significance need: the chi-square and normal tails, through
// the regularized incomplete gamma function (Numerical Recipes' series and continued fraction, to ~1e-14).

/** The 97.5% normal quantile: a two-sided 95% interval is ± this many standard errors. */
export const Z95 = 1.959963984540054;

// Lanczos approximation (g = 7, 9 terms): relative error below 1e-15 for x > 0.
const LANCZOS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let s = LANCZOS[0];
  for (let i = 1; i < 9; i++) s += LANCZOS[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

const EPS = 1e-16, TINY = 1e-300, MAX_TERMS = 10_000;

/** The upper regularized incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0, x ≥ 0. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    // P(a, x) by its series, Q = 1 - P (P is not close to 1 here).
    let term = 1 / a, sum = term;
    for (let n = 1; n < MAX_TERMS && Math.abs(term) > Math.abs(sum) * EPS; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return 1 - sum * front;
  }
  // Q(a, x) by its continued fraction (modified Lentz).
  let b = x + 1 - a, c = 1 / TINY, d = 1 / b, h = d;
  for (let i = 1; i < MAX_TERMS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < EPS) break;
  }
  return front * h;
}

/** P(X ≥ x) for X chi-square with df degrees of freedom. */
export const chiSquareSf = (x: number, df: number): number => x <= 0 ? 1 : gammaQ(df / 2, x / 2);

/** P(Z ≥ z) for Z standard normal (accurate in the far tail too: erfc through Q(1/2, z²/2)). */
export function normalSf(z: number): number {
  const half = 0.5 * gammaQ(0.5, (z * z) / 2);
  return z >= 0 ? half : 1 - half;
}
