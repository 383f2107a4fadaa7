// Runs the test files under test/ with node's test runner (TypeScript through tsx).
//   node scripts/run-tests.mjs            every test
//   node scripts/run-tests.mjs data model only test/data and test/model
import { readdirSync, statSync, mkdirSync } from 'node:fs';
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
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=900000', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
