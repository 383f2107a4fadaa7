/** Shared bench plumbing: the checkout's root, and running a bench file directly. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** the hpcdl checkout holding this file (from bench/support or dist/bench/support) */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the hpcdl checkout above ${__dirname}`);
    dir = up;
  }
  return dir;
}

/** `node --import tsx bench/<name>.ts args…` runs main like `hpcdl bench <name> args…` does */
export function runIfMain(mod: NodeJS.Module, main: (argv: string[]) => Promise<number>): void {
  if (require.main !== mod) return;
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
