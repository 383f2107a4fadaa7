/**
 * Where the hpcdl package this code runs from lives, and its version: the
 * first package.json named "hpcdl" above this file (from src/ or dist/src/, and
 * so from every folder that imports this one: cli/, kernel/, bench/, cluster/).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function readManifest(dir: string): { name?: string; version?: string } | null {
  const file = path.join(dir, 'package.json');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string }) : null;
}

/** The hpcdl package root above `from` (default: this file's folder); throws naming where it looked. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (readManifest(dir)?.name === 'hpcdl') return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the hpcdl package.json above ${from}`);
  }
}

let cachedVersion: string | undefined;

/** The version in the hpcdl package.json, or 'unknown' where there is none (checked by the group setup across ranks). */
export function packageVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = readManifest(packageRoot())?.version ?? 'unknown';
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}
