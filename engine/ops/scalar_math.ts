/** Scalar functions that `Math` lacks, written self-contained so backends can compile them. */

/**
 * The error function to ~1e-15 relative accuracy: the Maclaurin series below |x| = 3 (at most ~60
 * terms) and the Laplace continued fraction for erfc above, evaluated bottom-up.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf x = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x, sum = x;
    for (let n = 1; n < 80; n++) {
      term = (-term * x2) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1.1283791670955126 * sum;
  }
  if (ax > 6) return x > 0 ? 1 : -1;
  // erfc x = e^(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  let k = ax;
  for (let n = 60; n >= 1; n--) k = ax + n / 2 / k;
  const erfc = Math.exp(-ax * ax) / (1.7724538509055159 * k);
  return x > 0 ? 1 - erfc : erfc - 1;
}
