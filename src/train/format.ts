/** Number formatting shared by the training, iotest and inference log lines. */

/** C/Python `%g`: 6 significant digits, trailing zeros dropped, exponent form outside [1e-4, 1e6). */
export function formatG(value: number, precision = 6): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  const rounded = Number(value.toPrecision(precision));
  const exp = rounded === 0 ? exponent : Math.floor(Math.log10(Math.abs(rounded)));
  if (exp < -4 || exp >= precision) {
    const [mantissa, power] = rounded.toExponential(precision - 1).split('e');
    const sign = power.startsWith('-') ? '-' : '+';
    const digits = power.replace(/^[+-]/, '').padStart(2, '0');
    return `${stripZeros(mantissa)}e${sign}${digits}`;
  }
  return stripZeros(rounded.toFixed(Math.max(0, precision - 1 - exp)));
}

function stripZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** `time.time()` as the seed prints it: seconds since the epoch with two decimals. */
export function timestamp(nowMs: number = Date.now()): string {
  return (nowMs / 1000).toFixed(2);
}

/** Seconds from a `performance.now()` start. */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}
