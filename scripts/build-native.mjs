// Builds hpcdl's oneDNN addon (native/ → native/build/Release/hpcdl_onednn.node) with node-gyp.
// Runs at `npm install` / `npm ci` (package.json "install") and from `npm run build`; it never
// fails the caller: without a C++ compiler, libdnnl-dev or node-gyp it prints one line saying
// why, and hpcdl uses the wasm backend instead.
//   node scripts/build-native.mjs [--if-missing] [--strict]
//   --if-missing  do nothing when the addon is already built and newer than its sources
//   --strict      exit non-zero when the build fails (CI's check that the addon builds)
import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addon = join(nativeDir, 'build', 'Release', 'hpcdl_onednn.node');
const logFile = join(nativeDir, 'build', 'build.log');
const args = new Set(process.argv.slice(2));

function done(message, ok) {
  console.log(`hpcdl native: ${message}`);
  process.exit(!ok && args.has('--strict') ? 1 : 0);
}

function newestSource() {
  const files = ['binding.gyp', ...readdirSync(join(nativeDir, 'src')).map((f) => join('src', f))];
  return Math.max(...files.map((f) => statSync(join(nativeDir, f)).mtimeMs));
}

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

/** Node's headers: the ones installed with this node (Debian's libnode-dev, nvm, official tarballs), so no download. */
function nodeHeaders() {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

if (process.env.HPCDL_NATIVE === '0') done('not built (HPCDL_NATIVE=0)', true);
if (!existsSync(join(nativeDir, 'binding.gyp'))) done('not built (no native/ sources in this package)', true);
if (args.has('--if-missing') && existsSync(addon) && statSync(addon).mtimeMs >= newestSource()) done(`up to date (${addon})`, true);

const require = createRequire(import.meta.url);
let nodeGyp;
try {
  nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  require.resolve('node-addon-api');
} catch {
  done('not built (node-gyp or node-addon-api is not installed); hpcdl will use the wasm backend', false);
}
if (!onPath('c++') && !onPath('g++')) done('not built (no C++ compiler: install g++ / build-essential); hpcdl will use the wasm backend', false);
if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') && !existsSync('/usr/local/include/oneapi/dnnl/dnnl.hpp')) {
  done('not built (oneDNN headers missing: install libdnnl-dev); hpcdl will use the wasm backend', false);
}

const headers = nodeHeaders();
const gypArgs = [nodeGyp, 'rebuild', '--directory', nativeDir, ...(headers ? [`--nodedir=${headers}`] : [])];
const result = spawnSync(process.execPath, gypArgs, { encoding: 'utf8', maxBuffer: 64 << 20 });
mkdirSync(dirname(logFile), { recursive: true });
writeFileSync(logFile, `${result.stdout ?? ''}\n${result.stderr ?? ''}`);
if (result.status !== 0 || !existsSync(addon)) {
  const firstError = `${result.stderr ?? ''}\n${result.stdout ?? ''}`.split('\n').find((l) => /error/i.test(l))?.trim();
  done(`build failed (${firstError ?? `node-gyp exit ${result.status}`}; full log ${logFile}); hpcdl will use the wasm backend`, false);
}
done(`built ${addon}`, true);
