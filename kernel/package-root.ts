import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/package-info';

/** The root directory of the hpcdl package this code is running from (works from kernel/ and dist/kernel/). */
export function hpcdlPackageRoot(from: string = __dirname): string {
  return packageRoot(from);
}

export function hpcdlVersion(root = hpcdlPackageRoot()): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
