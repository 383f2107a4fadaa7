/**
 * The built package loads both ways its users load it: `require` (CommonJS,
 * as tslab compiles notebook cells) and `import` (ESM scripts), through the
 * package name and its `exports` map. Needs a build (npx tsc -p tsconfig.json).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const PROBE = "typeof m.train + ' ' + typeof m.openEventSource + ' ' + typeof m.rocAuc + ' ' + typeof c.Cluster + ' ' + typeof k.onInterrupt";
const EXPECTED = 'function function function function function';

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }).trim();
}

test('require("hpcdl"), require("hpcdl/cluster") and require("hpcdl/kernel") from CommonJS', () => {
  const code = `const m = require('hpcdl'); const c = require('hpcdl/cluster'); const k = require('hpcdl/kernel'); console.log(${PROBE});`;
  assert.equal(run(['-e', code]), EXPECTED);
});

test('import("hpcdl"), "hpcdl/cluster" and "hpcdl/kernel" from an ES module', () => {
  const code = `const m = await import('hpcdl'); const c = await import('hpcdl/cluster'); const k = await import('hpcdl/kernel'); console.log(${PROBE});`;
  assert.equal(run(['--input-type=module', '-e', code]), EXPECTED);
});

test('h5wasm (ESM-only) loads from the CommonJS build when the library needs it', () => {
  const code = "require('hpcdl').loadH5wasm().then((h5) => console.log(typeof h5.File));";
  assert.equal(run(['-e', code]), 'function');
});
