/**
 * Preloaded (`node --require`) by the batch scripts make_scripts writes when
 * they run outside the hpcdl checkout or installation: a `require('hpcdl')`,
 * `require('hpcdl/cluster')` or a dependency of hpcdl (`@tensorflow/tfjs-core`)
 * that Node cannot resolve from the script's folder resolves from HPCDL_ROOT.
 * Passed on through NODE_OPTIONS, so engines and their worker threads resolve
 * the same way. Imports nothing of the project.
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';

type Resolve = (request: string, parent: unknown, isMain: boolean, options?: { paths?: string[] }) => string;

const home = process.env.HPCDL_ROOT;
const moduleInternals = Module as unknown as { _resolveFilename: Resolve };
const original = moduleInternals._resolveFilename;

function exportedFile(request: string): string | null {
  const manifest = JSON.parse(fs.readFileSync(path.join(home!, 'package.json'), 'utf8')) as { exports?: Record<string, { default?: string } | string> };
  const key = request === 'hpcdl' ? '.' : `.${request.slice('hpcdl'.length)}`;
  const entry = manifest.exports?.[key];
  const target = typeof entry === 'string' ? entry : entry?.default;
  return target ? path.join(home!, target) : null;
}

if (home && !(original as { hpcdlHome?: string }).hpcdlHome) {
  const patched: Resolve = function (this: unknown, request, parent, isMain, options) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (err) {
      if (request.startsWith('.') || path.isAbsolute(request)) throw err;
      if (request === 'hpcdl' || request.startsWith('hpcdl/')) {
        const file = exportedFile(request);
        if (file) return original.call(this, file, parent, isMain, options);
      }
      return original.call(this, request, parent, isMain, { paths: [home] });
    }
  };
  (patched as { hpcdlHome?: string }).hpcdlHome = home;
  moduleInternals._resolveFilename = patched;
}
