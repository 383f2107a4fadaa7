/**
 * One file-naming convention (docs/layout.md): TypeScript and JavaScript files
 * are kebab-case. Python, configs and notebooks keep their own conventions;
 * make_scripts.ts keeps the name the product card fixes (and its test follows it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const FOLDERS = ['src', 'cli', 'cluster', 'kernel', 'bench', 'notebooks', 'scripts', 'test'];
const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*(\.test|\.d)?\.(ts|mts|cts|js|mjs|cjs)$/;
const FIXED_NAMES = new Set(['make_scripts.ts', path.join('test', 'make_scripts', 'make_scripts.test.ts')]);

function codeFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : codeFiles(rel);
    return /\.(ts|mts|cts|js|mjs|cjs)$/.test(entry.name) ? [rel] : [];
  });
}

test('TypeScript and JavaScript files are kebab-case', () => {
  const files = [...FOLDERS.filter((d) => fs.existsSync(path.join(ROOT, d))).flatMap(codeFiles), 'make_scripts.ts'];
  assert.ok(files.length > 100, `only ${files.length} files found under ${FOLDERS.join(', ')}`);
  const offenders = files.filter((f) => !FIXED_NAMES.has(f) && !KEBAB.test(path.basename(f)));
  assert.deepEqual(offenders, [], `rename to kebab-case (git mv, then fix imports and path strings): ${offenders.join(', ')}`);
});
