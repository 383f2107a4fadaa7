/**
 * Makes packages in extra directories (the kernel's NODE_PATH) visible to the
 * TypeScript checker tslab runs on every cell.
 *
 * Node resolves `require("hpcdl")` through NODE_PATH, but TypeScript's module
 * resolution only walks `node_modules` folders upwards from the notebook's
 * directory, and tslab's compiler options are fixed. tslab routes all file
 * system access of its checker through `ts.sys`, so we overlay
 * `<cwd>/node_modules/<name>/...` onto `<dir>/<name>/...` for each extra
 * directory, but only where the notebook directory has no such entry itself:
 * a project's own node_modules still wins, as it does for Node at run time.
 *
 * Subpath imports of packages listed in `distSubpaths` (`hpcdl/cluster`) are
 * looked up under the package's dist/ folder first: TypeScript's node10
 * resolution ignores package.json `exports` and would otherwise pick the .ts
 * sources next to package.json, which tslab would then try to transpile.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TypeScriptSys } from './tslab';

export function installModuleOverlay(
  sys: TypeScriptSys,
  cwd: string,
  extraDirs: string[],
  distSubpaths: Record<string, string> = { hpcdl: 'dist' },
): void {
  const prefix = path.join(cwd, 'node_modules') + path.sep;
  const dirs = extraDirs.filter((d) => d && fs.existsSync(d));
  if (dirs.length === 0) return;

  const mapPath = (p: string): string => {
    if (!p.startsWith(prefix) || fs.existsSync(p)) return p;
    const rest = p.slice(prefix.length);
    const distRest = distRedirect(rest, distSubpaths);
    for (const dir of dirs) {
      if (distRest) {
        const distCandidate = path.join(dir, distRest);
        if (fs.existsSync(distCandidate)) return distCandidate;
      }
      const candidate = path.join(dir, rest);
      if (fs.existsSync(candidate)) return candidate;
    }
    return p;
  };

  const original = {
    fileExists: sys.fileExists.bind(sys),
    directoryExists: sys.directoryExists.bind(sys),
    readFile: sys.readFile.bind(sys),
    getDirectories: sys.getDirectories.bind(sys),
    realpath: sys.realpath?.bind(sys),
  };
  sys.fileExists = (p) => original.fileExists(mapPath(p));
  sys.directoryExists = (p) => original.directoryExists(mapPath(p));
  sys.readFile = (p, encoding) => original.readFile(mapPath(p), encoding);
  sys.getDirectories = (p) => original.getDirectories(mapPath(p));
  sys.realpath = (p) => {
    const mapped = mapPath(p);
    if (original.realpath) return original.realpath(mapped);
    return mapped;
  };
}

/** `hpcdl/cluster/index.d.ts` → `hpcdl/dist/cluster/index.d.ts`; null when not applicable. */
function distRedirect(rest: string, distSubpaths: Record<string, string>): string | null {
  const [name, ...sub] = rest.split(path.sep);
  const dist = distSubpaths[name];
  if (!dist || sub.length === 0) return null;
  if (sub[0] === dist || sub[0] === 'node_modules' || sub[0] === 'package.json') return null;
  return path.join(name, dist, ...sub);
}
