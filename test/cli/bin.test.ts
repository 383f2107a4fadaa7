/**
 * The package's `bin` runs as an executable after a rebuild (issue 16: tsc
 * writes files without the execute bit, so `npx hpcdl` failed with
 * "Permission denied" once `npm run build` had run again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './support';

test('npm run build leaves the bin executable, and it runs directly', () => {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
  const bin = path.join(ROOT, pkg.bin.hpcdl);
  assert.ok(fs.statSync(bin).mode & 0o100, `${bin} is not executable after the build`);
  // the file itself, through its #! line, as a shell and npx run it
  assert.equal(execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 }).trim(), pkg.version);
  const help = execFileSync(bin, ['--help'], { encoding: 'utf8', timeout: 60_000 });
  assert.match(help, /^Usage: hpcdl <command>/m);
});
