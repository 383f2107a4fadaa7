// `npm run build`: a clean dist/ from tsc, then the package's bin made executable
// (tsc writes files without the execute bit, so `npx hpcdl` would fail with
// "Permission denied" after any rebuild), then the oneDNN addon if it is missing or
// older than its sources (scripts/build-native.mjs; never fails the build).
import { chmodSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);

const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const file of Object.values(typeof bin === 'string' ? { hpcdl: bin } : bin)) {
  const target = join(root, file);
  chmodSync(target, statSync(target).mode | 0o111);
}

spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--if-missing'], { stdio: 'inherit' });
