/**
 * Number formatting shared by the training, iotest and inference log lines: Python's `%g`,
 * `%.Nf` and the seed's `%.2f` timestamps. Python rounds the exact binary value, and an
 * exact half to the even digit (`'%g' % 1234.125` is `1234.12`, `'%.1f' % 0.25` is `0.2`);
 * JavaScript's toPrecision/toFixed round such halves up, so the digits are rounded here.
 */

/** The exact decimal digits of |x| (100 significant digits: enough to tell a tie) and its decimal exponent. */
function exactDigits(x: number): { digits: string; exponent: number } {
  if (Math.abs(x) >= 1e21) {
    const whole = BigInt(Math.abs(x)).toString(); // an integer at this size; toExponential would stop at 100 digits
    return { digits: whole, exponent: whole.length - 1 };
  }
  const [mantissa, power] = Math.abs(x).toExponential(99).split('e');
  return { digits: mantissa.replace('.', ''), exponent: Number(power) };
}

/** Keep the first `keep` digits of `digits`, rounding the rest half to even; returns the kept digits and the carry-adjusted exponent. */
function roundDigits(digits: string, keep: number, exponent: number): { digits: string; exponent: number } {
  if (keep <= 0) {
    // everything is rounded away: 0, or 1 in the next position up
    const first = digits[0] ?? '0';
    const up = keep === 0 && (first > '5' || (first === '5' && /[1-9]/.test(digits.slice(1))));
    return { digits: up ? '1' : '', exponent: up ? exponent + 1 : exponent };
  }
  const kept = digits.slice(0, keep).padEnd(keep, '0');
  const rest = digits.slice(keep);
  const tie = rest[0] === '5' && !/[1-9]/.test(rest.slice(1));
  const above = rest[0] > '5' || (rest[0] === '5' && !tie);
  const odd = Number(kept[kept.length - 1]) % 2 === 1;
  if (!above && !(tie && odd)) return { digits: kept, exponent };
  const bumped = (BigInt(kept) + 1n).toString().padStart(keep, '0');
  return bumped.length > keep ? { digits: bumped.slice(0, keep), exponent: exponent + 1 } : { digits: bumped, exponent };
}

function nonFinite(value: number): string {
  return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
}

/** Python `'%g' % value` (`precision` significant digits, trailing zeros dropped, exponent form outside [1e-4, 10^precision)). */
export function formatG(value: number, precision = 6): string {
  if (!Number.isFinite(value)) return nonFinite(value);
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  if (value === 0) return `${sign}0`;
  const p = Math.max(1, precision);
  const exact = exactDigits(value);
  const { digits, exponent } = roundDigits(exact.digits, p, exact.exponent);
  if (exponent < -4 || exponent >= p) {
    const mantissa = stripZeros(`${digits[0]}.${digits.slice(1)}`);
    const power = `${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
    return `${sign}${mantissa}e${power}`;
  }
  const text = exponent >= 0
    ? `${digits.slice(0, exponent + 1)}${exponent + 1 < p ? '.' : ''}${digits.slice(exponent + 1)}`
    : `0.${'0'.repeat(-exponent - 1)}${digits}`;
  return sign + stripZeros(text);
}

/** Python `'%.{decimals}f' % value`. */
export function formatF(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return nonFinite(value);
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  if (value === 0) return sign + (0).toFixed(decimals);
  const exact = exactDigits(value);
  // digits kept: those before the point (exponent + 1) and `decimals` after it
  const { digits, exponent } = roundDigits(exact.digits, exact.exponent + 1 + decimals, exact.exponent);
  const all = digits === '' ? '0' : digits;
  const intDigits = exponent + 1;
  const padded = intDigits > 0 ? all.padEnd(intDigits + decimals, '0') : '0'.repeat(1 - intDigits) + all;
  const point = Math.max(1, intDigits);
  const whole = padded.slice(0, point);
  const fraction = padded.slice(point, point + decimals).padEnd(decimals, '0');
  const text = decimals > 0 ? `${whole}.${fraction}` : whole;
  return sign + text;
}

function stripZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** `time.time()` as the seed prints it (`%.2f`): seconds since the epoch with two decimals. */
export function timestamp(nowMs: number = Date.now()): string {
  return formatF(nowMs / 1000, 2);
}

/** Seconds from a `performance.now()` start. */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}
