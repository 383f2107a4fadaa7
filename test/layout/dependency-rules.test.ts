/**
 * The dependency rules (.dependency-cruiser.cjs) run: the tree obeys them, and
 * a tree that breaks each one fails with the rule's name, the importing file
 * and the imported one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDirMaker } from '../support/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const DEPCRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const tempDir = tempDirMaker('hpcdl-deps-');

function cruise(cwd: string, paths: string[]): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'err', ...paths], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, output: r.stdout + r.stderr };
}

test('npm run lint:deps: the tree obeys every rule', () => {
  const r = spawnSync('npm', ['run', '--silent', 'lint:deps'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /^\s*error /m);
});

test('a tree breaking each rule fails, naming the rule and both files', () => {
  const dir = tempDir();
  fs.copyFileSync(path.join(ROOT, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'Node16', moduleResolution: 'Node16', strict: true } }));
  // file → its imports; each import breaks the rule named beside it
  const files: Record<string, [string, string][]> = {
    'src/train.ts': [['../cluster/client/index', 'src-is-the-library']],
    'src/notebook-hooks/index.ts': [['../train', 'notebook-hooks-is-a-leaf']],
    'cluster/protocol/envelope.ts': [['../engine/engine', 'protocol-imports-no-cluster']],
    'cluster/engine/engine.ts': [['../controller/controller', 'engine-not-controller']],
    'cluster/controller/controller.ts': [
      ['../engine/engine', 'controller-not-engine'],
      ['../../src/train', 'controller-not-training-code'],
    ],
    'cluster/client/index.ts': [['./views', 'no-circular-in-client']],
    'cluster/client/views.ts': [['./index', 'no-circular-in-client']],
    'kernel/kernel.ts': [['../cli/index', 'only-cli-imports-cli']],
    'cli/index.ts': [['./no-such-file', 'resolvable-imports']],
  };
  for (const [file, imports] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), imports.map(([from]) => `import '${from}';\n`).join('') + 'export {};\n');
  }
  const r = cruise(dir, ['src', 'cluster', 'kernel', 'cli']);
  assert.notEqual(r.code, 0, `the broken tree passed:\n${r.output}`);
  for (const [file, imports] of Object.entries(files)) {
    for (const [, rule] of imports) {
      const where = file.replace(/[.]/g, '\\.');
      // a circle is reported once, from one of its files, with the whole cycle after the arrow
      const reported = rule === 'no-circular-in-client' ? new RegExp(`error ${rule}: [^]*${where}`) : new RegExp(`error ${rule}: ${where} → `);
      assert.match(r.output, reported, `${rule} is not reported for ${file}:\n${r.output}`);
    }
  }
  const errors = (r.output.match(/^\s*error /gm) ?? []).length;
  assert.equal(errors, 9, `expected 9 errors (one per broken import, the circle once), got ${errors}:\n${r.output}`);
});
