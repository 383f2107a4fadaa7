/**
 * A test that needs a real component (Slurm, Chromium, the built package) is
 * skipped when it is missing only if HPCDL_ALLOW_SKIPS=1. Otherwise it is still
 * skipped (so it does not fail in some obscure way), and a test named after the
 * missing component fails with what to install: a direct `node --test` or an
 * area run cannot pass with the real component silently left out.
 */
import { test } from 'node:test';

const reported = new Set<string>();

/** The `skip` option for a test that needs what `missing` names (falsy: it is here). */
export function skipIfMissing(missing: string | null | undefined | false): string | false {
  if (!missing) return false;
  if (process.env.HPCDL_ALLOW_SKIPS !== '1' && !reported.has(missing)) {
    reported.add(missing);
    test(`a real component the tests here need is missing: ${missing}`, () => {
      throw new Error(`${missing}: the tests of this file need it (bash scripts/setup.sh --system installs the real components); set HPCDL_ALLOW_SKIPS=1 to skip them instead`);
    });
  }
  return missing;
}
