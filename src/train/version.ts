import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

/** The version of the hpcdl package this code belongs to (from its package.json), or 'unknown'. */
export function packageVersion(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hpcdl') return (cached = pkg.version ?? 'unknown');
    }
    if (path.dirname(dir) === dir) return (cached = 'unknown');
  }
}
