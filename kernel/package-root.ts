import fs from 'node:fs';
import path from 'node:path';

/** The root directory of the hpcdl package this code is running from (works from kernel/ and dist/kernel/). */
export function hpcdlPackageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string };
      if (pkg.name === 'hpcdl') return dir;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`cannot find the hpcdl package.json above ${from}`);
    }
  }
}

export function hpcdlVersion(root = hpcdlPackageRoot()): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
