/**
 * Turns the notebooks into batch scripts, as the seed's make_scripts.sh did
 * with nbconvert: each notebook becomes `<out>/<name>.ts` (its code cells, in
 * order, runnable with node) and `<out>/<name>.sbatch` (a Slurm batch script
 * that runs it with srun).
 *
 *   npx tsx make_scripts.ts [--out DIR] [--sbatch "OPTION" ...] [NOTEBOOK ...]
 *
 * Defaults: every notebook under notebooks/, output to batch_scripts/.
 * Cells tagged `interactive-only` are left out. Options for sbatch come from
 * the notebook's metadata `hpcdl.sbatch` (a list of `#SBATCH` options) and
 * from `--sbatch`. Imports are hoisted to the top and relative module paths are
 * rewritten for the script's location; the cells run in order inside one
 * async main, so top-level `await` works as it does in the kernel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type * as TS from 'typescript';

interface NotebookCell {
  cell_type: string;
  source: string | string[];
  metadata?: { tags?: string[] };
}

interface Notebook {
  cells: NotebookCell[];
  metadata?: { hpcdl?: { sbatch?: string[] } };
}

export interface MadeScript {
  notebook: string;
  script: string;
  sbatch: string;
}

const PACKAGE_ROOT = path.resolve(__dirname, path.basename(__dirname) === 'dist' ? '..' : '.');
const INTERACTIVE_ONLY = 'interactive-only';
const DEFAULT_SBATCH = ['-N 1', '-t 00:30:00'];

function loadTypeScript(): typeof TS {
  try {
    return require('typescript');
  } catch {
    throw new Error('make_scripts needs the "typescript" package (npm install typescript)');
  }
}

export function readNotebook(file: string): Notebook {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not a readable notebook (${(error as Error).message})`);
  }
  const cells = (parsed as Notebook | null)?.cells;
  if (!Array.isArray(cells)) throw new Error(`${file}: not a notebook (no "cells" list)`);
  return parsed as Notebook;
}

function cellText(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

function batchCells(notebook: Notebook): string[] {
  return notebook.cells
    .filter((c) => c.cell_type === 'code' && !(c.metadata?.tags ?? []).includes(INTERACTIVE_ONLY))
    .map(cellText);
}

function relativeSpecifier(target: string, outDir: string): string {
  const relative = path.relative(outDir, target).split(path.sep).join('/');
  return relative.startsWith('.') ? relative : `./${relative}`;
}

/** `hpcdl` and `hpcdl/<sub>` point at this package's build, so a script runs wherever it is written. */
function packageTarget(specifier: string): string | null {
  const match = /^hpcdl(\/.+)?$/.exec(specifier);
  if (!match) return null;
  const exportsMap = require(path.join(PACKAGE_ROOT, 'package.json')).exports as Record<string, { default: string }>;
  const entry = exportsMap[match[1] ? `.${match[1]}` : '.'];
  if (!entry) throw new Error(`"${specifier}" is not exported by hpcdl (package.json exports)`);
  return path.join(PACKAGE_ROOT, entry.default);
}

function rewriteSpecifier(specifier: string, notebookDir: string, outDir: string): string {
  if (specifier.startsWith('.')) return relativeSpecifier(path.resolve(notebookDir, specifier), outDir);
  const target = packageTarget(specifier);
  return target ? relativeSpecifier(target, outDir) : specifier;
}

/** Splits a cell into its import declarations (rewritten) and the rest of its code. */
function splitImports(ts: typeof TS, code: string, notebookDir: string, outDir: string): { imports: string[]; body: string } {
  const source = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const imports: string[] = [];
  let body = code;
  for (const statement of [...source.statements].reverse()) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const specifier = statement.moduleSpecifier.text;
    const text = statement.getText(source).replace(specifier, rewriteSpecifier(specifier, notebookDir, outDir));
    imports.unshift(text);
    body = body.slice(0, statement.getStart(source)) + body.slice(statement.getEnd());
  }
  return { imports, body: body.trim() };
}

function indent(code: string): string {
  return code
    .split('\n')
    .map((line) => (line.length ? `  ${line}` : line))
    .join('\n');
}

export function scriptSource(notebookFile: string, outDir: string): string {
  const ts = loadTypeScript();
  const notebookDir = path.dirname(path.resolve(notebookFile));
  const parts = batchCells(readNotebook(notebookFile)).map((cell) => splitImports(ts, cell, notebookDir, outDir));
  const imports = [...new Set(parts.flatMap((p) => p.imports))];
  const cells = parts
    .map((p, i) => ({ ...p, i }))
    .filter((p) => p.body.length > 0)
    .map((p) => `  // ---- cell ${p.i + 1} ----\n${indent(p.body)}`);
  return [
    `// Generated by make_scripts.ts from ${path.relative(outDir, path.resolve(notebookFile))}; edit the notebook, not this file.`,
    ...imports,
    '',
    'async function main(): Promise<void> {',
    cells.join('\n\n'),
    '}',
    '',
    'main().then(',
    '  () => process.exit(0),',
    '  (error) => {',
    '    console.error(error instanceof Error ? error.stack ?? error.message : error);',
    '    process.exit(1);',
    '  },',
    ');',
    '',
  ].join('\n');
}

export function sbatchSource(name: string, scriptFile: string, options: string[]): string {
  const loader = path.join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');
  return [
    '#!/bin/bash',
    `#SBATCH -J ${name}`,
    ...options.map((o) => `#SBATCH ${o}`),
    `# Generated by make_scripts.ts; runs ${path.basename(scriptFile)} once per task.`,
    'set -euo pipefail',
    `cd ${JSON.stringify(path.dirname(scriptFile))}`,
    `srun ${JSON.stringify(process.execPath)} --import ${JSON.stringify(`file://${loader}`)} ${JSON.stringify(scriptFile)}`,
    '',
  ].join('\n');
}

function findNotebooks(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name.startsWith('.') ? [] : findNotebooks(full);
    return entry.name.endsWith('.ipynb') ? [full] : [];
  });
}

export function makeScripts(notebooks: string[], outDir: string, extraSbatch: string[] = []): MadeScript[] {
  fs.mkdirSync(outDir, { recursive: true });
  return notebooks.map((notebook) => {
    const name = path.basename(notebook, '.ipynb');
    const script = path.resolve(outDir, `${name}.ts`);
    const sbatch = path.resolve(outDir, `${name}.sbatch`);
    const options = readNotebook(notebook).metadata?.hpcdl?.sbatch ?? DEFAULT_SBATCH;
    fs.writeFileSync(script, scriptSource(notebook, path.resolve(outDir)));
    fs.writeFileSync(sbatch, sbatchSource(name, script, [...options, ...extraSbatch]), { mode: 0o755 });
    return { notebook, script, sbatch };
  });
}

export function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'batch_scripts' },
      sbatch: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: make_scripts [--out DIR] [--sbatch "OPTION" ...] [NOTEBOOK ...]');
    return 0;
  }
  const notebooks = positionals.length ? positionals : findNotebooks(path.join(PACKAGE_ROOT, 'notebooks'));
  for (const made of makeScripts(notebooks, path.resolve(values.out!), values.sbatch!)) {
    console.log(`${made.notebook} -> ${made.script}, ${made.sbatch}`);
  }
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    console.error(`make_scripts: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
