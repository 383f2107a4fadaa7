// Runs the test files under test/ with node's test runner (TypeScript through tsx).
//   node scripts/run-tests.mjs            every test
//   node scripts/run-tests.mjs data model only test/data and test/model
// A skipped test fails the run in either mode: the real components must run
// (HPCDL_ALLOW_SKIPS=1 allows skips; test/support/skips.ts makes a direct
// `node --test` fail the same way).
import { readdirSync, statSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'support' ? [] : findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const areas = process.argv.slice(2);
const files = findTests('test')
  .filter((f) => areas.length === 0 || areas.some((a) => f.startsWith(join('test', a) + '/')))
  .sort();
if (files.length === 0) {
  console.error(`no test files found for: ${areas.join(' ') || 'test/'}`);
  process.exit(1);
}
mkdirSync('test-artifacts', { recursive: true });
console.log(`running ${files.length} test files`);
const tapFile = join('test-artifacts', 'results.tap');
const result = spawnSync(
  process.execPath,
  [
    '--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=900000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
const skipped = readFileSync(tapFile, 'utf8').split('\n').filter((line) => /^\s*ok \d+ - .*# SKIP/.test(line));
if (skipped.length > 0) {
  console.log(`\n${skipped.length} skipped:\n${skipped.map((l) => `  ${l.trim()}`).join('\n')}`);
  if (process.env.HPCDL_ALLOW_SKIPS !== '1') {
    console.error('the tests must run every real component: a skip is a failure here (HPCDL_ALLOW_SKIPS=1 allows it)');
    process.exit(1);
  }
}
console.log(`results: ${tapFile}`);
process.exit(result.status ?? 1);
