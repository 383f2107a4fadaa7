/**
 * Turns the notebooks into batch scripts, as the seed's make_scripts.sh did
 * with nbconvert, and writes one Slurm run script per machine config, as the
 * seed's run_scripts/ (see docs/batch.md).
 *
 *   npx tsx make_scripts.ts [--out DIR] [--sbatch "OPTION" ...] [--check] [NOTEBOOK ...]
 *
 * Each notebook becomes `<out>/<path>.ts` (its code cells in order inside one
 * async main, runnable with node) and `<out>/<path>.sbatch` (a bash script for
 * sbatch that finds node and hpcdl at run time and runs the .ts with srun),
 * where <path> mirrors the notebook's place under the notebook folder. The
 * helper modules the notebooks import or send to engines are copied to the
 * same relative places, so relative imports and task-module strings work
 * unchanged. Each config with a `slurm` section becomes
 * `<out>/run_scripts/<config>.sbatch` (srun of `hpcdl train`, one rank per task).
 */
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type * as TS from 'typescript';
import { loadConfig } from './src/config';
import { notebookSbatchSource, runScriptSource } from './src/batch/sbatch-files';

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

/** A generated file: its path under the output folder and its content. */
export interface OutputFile {
  relative: string;
  content: string;
  executable: boolean;
  /** the notebook, module or config it comes from */
  source: string;
}

const PACKAGE_ROOT = path.resolve(__dirname, path.basename(__dirname) === 'dist' ? '..' : '.');
const INTERACTIVE_ONLY = 'interactive-only';
const DEFAULT_SBATCH = ['-N 1', '-t 00:30:00'];
/** A string literal naming a module file by relative path, optionally with "#export": a task-module reference. */
const MODULE_STRING = /^\.{1,2}\/[^#\s'"`]+\.(ts|mts|cts|js|mjs|cjs)(#[\w$]+)?$/;
const MODULE_EXTENSIONS = ['', '.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '/index.ts', '/index.js'];

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

/** The file a relative specifier names (TypeScript's `./x.js` may mean `./x.ts`), or null. */
function resolveRelative(fromDir: string, specifier: string): string | null {
  const base = path.resolve(fromDir, specifier);
  const candidates = MODULE_EXTENSIONS.map((ext) => base + ext);
  if (/\.js$/.test(base)) candidates.push(base.replace(/\.js$/, '.ts'));
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile()) ?? null;
}

function bareResolves(specifier: string, fromDir: string): boolean {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier)) return true;
  const hpcdl = /^hpcdl(\/.+)?$/.exec(specifier);
  if (hpcdl) {
    const exportsMap = require(path.join(PACKAGE_ROOT, 'package.json')).exports as Record<string, unknown>;
    return exportsMap[hpcdl[1] ? `.${hpcdl[1]}` : '.'] !== undefined;
  }
  try {
    require.resolve(specifier, { paths: [fromDir, PACKAGE_ROOT] });
    return true;
  } catch {
    return false;
  }
}

interface Where {
  /** "notebooks/x.ipynb, cell 3" or "notebooks/tasks/y.ts" */
  label: string;
  dir: string;
}

function syntaxErrors(ts: typeof TS, source: TS.SourceFile, where: Where): void {
  const diagnostics = (source as unknown as { parseDiagnostics?: TS.Diagnostic[] }).parseDiagnostics ?? [];
  if (diagnostics.length === 0) return;
  const d = diagnostics[0];
  const line = d.start !== undefined ? source.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
  throw new Error(`${where.label}: syntax error at line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}

/** Relative specifiers of import/export declarations and `require()`/`import()` calls, plus task-module strings. */
function references(ts: typeof TS, source: TS.SourceFile): { imports: TS.StringLiteral[]; moduleStrings: TS.StringLiteralLike[] } {
  const imports: TS.StringLiteral[] = [];
  const moduleStrings: TS.StringLiteralLike[] = [];
  const visit = (node: TS.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      imports.push(node.moduleSpecifier);
      return;
    }
    if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) {
        imports.push(node.arguments[0] as TS.StringLiteral);
        return;
      }
    }
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && MODULE_STRING.test(node.text)) moduleStrings.push(node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, moduleStrings };
}

/**
 * Checks every import of a cell or module; the relative ones (and task-module
 * strings naming an existing file) must stay inside the notebook folder and
 * are returned for copying.
 */
function localDependencies(ts: typeof TS, source: TS.SourceFile, where: Where, root: string): { files: string[]; moduleStrings: TS.StringLiteralLike[] } {
  const { imports, moduleStrings } = references(ts, source);
  const files: string[] = [];
  const inside = (file: string, specifier: string): string => {
    const relative = path.relative(root, file);
    if (relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new Error(`${where.label}: '${specifier}' is outside the notebook folder ${root} (give --root)`);
    }
    return file;
  };
  for (const literal of imports) {
    const specifier = literal.text;
    if (specifier.startsWith('.') || specifier.startsWith('/')) {
      const file = resolveRelative(where.dir, specifier);
      if (!file) throw new Error(`${where.label}: cannot resolve import '${specifier}'`);
      files.push(inside(file, specifier));
    } else if (!bareResolves(specifier, where.dir)) {
      throw new Error(`${where.label}: cannot resolve import '${specifier}'`);
    }
  }
  const tasks = moduleStrings.filter((literal) => fs.existsSync(path.resolve(where.dir, literal.text.split('#')[0])));
  for (const literal of tasks) files.push(inside(path.resolve(where.dir, literal.text.split('#')[0]), literal.text));
  return { files, moduleStrings: tasks };
}

function indent(code: string): string {
  return code
    .split('\n')
    .map((line) => (line.length ? `  ${line}` : line))
    .join('\n');
}

interface ConvertedNotebook {
  source: string;
  dependencies: string[];
}

function convertNotebook(ts: typeof TS, notebookFile: string, root: string, name: string): ConvertedNotebook {
  const notebook = readNotebook(notebookFile);
  const label = path.relative(path.dirname(root), notebookFile);
  const dir = path.dirname(notebookFile);
  const imports: string[] = [];
  const bodies: string[] = [];
  const dependencies: string[] = [];
  let usesModuleStrings = false;
  let usesCluster = false;
  notebook.cells.forEach((cell, index) => {
    if (cell.cell_type !== 'code' || (cell.metadata?.tags ?? []).includes(INTERACTIVE_ONLY)) return;
    const where = { label: `${label}, cell ${index + 1}`, dir };
    const code = cellText(cell);
    const source = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    syntaxErrors(ts, source, where);
    const found = localDependencies(ts, source, where, root);
    dependencies.push(...found.files);
    // Edits on the cell's text, applied from the end: imports move to the top, task-module strings resolve from the script's folder.
    const edits: { start: number; end: number; text: string }[] = [];
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement)) continue;
      imports.push(statement.getText(source));
      if (ts.isStringLiteral(statement.moduleSpecifier) && statement.moduleSpecifier.text === 'hpcdl/cluster') usesCluster = true;
      edits.push({ start: statement.getStart(source), end: statement.getEnd(), text: '' });
    }
    for (const literal of found.moduleStrings) {
      usesModuleStrings = true;
      edits.push({ start: literal.getStart(source), end: literal.getEnd(), text: `__module(${literal.getText(source)})` });
    }
    let body = code;
    for (const edit of edits.sort((a, b) => b.start - a.start)) body = body.slice(0, edit.start) + edit.text + body.slice(edit.end);
    body = body.trim();
    if (body) bodies.push(`  // ---- cell ${index + 1} ----\n${indent(body)}\n  __batch.cellEnd();`);
  });
  const closeClusters = usesCluster
    ? ["    await (require('hpcdl/cluster') as typeof import('hpcdl/cluster')).Cluster.closeAll().catch(() => undefined);"]
    : [];
  const source = [
    `// Generated by make_scripts.ts from ${label}; edit the notebook, not this file.`,
    `// Run it with ${name}.sbatch (sbatch, srun or bash; it finds node and hpcdl), or node --import tsx ${name}.ts; --help lists the flags.`,
    "import { startBatchScript } from 'hpcdl';",
    ...[...new Set(imports)],
    '',
    `const __batch = startBatchScript({ name: ${JSON.stringify(name)}, notebook: ${JSON.stringify(label)} });`,
    ...(usesModuleStrings ? ["// task modules are named relative to the notebook, here relative to this script's folder", "const __module = (spec: string): string => require('node:path').resolve(__dirname, spec);"] : []),
    '',
    'async function main(): Promise<void> {',
    '  if (!__batch.runs) return;',
    bodies.join('\n\n'),
    '}',
    '',
    'main().then(',
    '  () => {',
    '    __batch.finish();',
    '    process.exit(0);',
    '  },',
    '  async (error) => {',
    '    console.error(error instanceof Error ? error.stack ?? error.message : error);',
    '    try {',
    '      __batch.finish();',
    '    } catch {',
    '      // the figures of a failed run are a bonus',
    '    }',
    '    // a failed run stops the controller and engines it started and removes their connection file',
    ...closeClusters,
    '    process.exit(1);',
    '  },',
    ');',
    '',
  ].join('\n');
  return { source, dependencies };
}

/** The helper modules the notebooks need, following their relative imports and task-module strings. */
function moduleClosure(ts: typeof TS, start: string[], root: string): string[] {
  const seen = new Set<string>();
  const queue = [...start];
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!/\.(ts|tsx|mts|cts|js|mjs|cjs)$/.test(file)) continue;
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const where = { label: path.relative(path.dirname(root), file), dir: path.dirname(file) };
    syntaxErrors(ts, source, where);
    queue.push(...localDependencies(ts, source, where, root).files);
  }
  return [...seen].sort();
}

function findNotebooks(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name.startsWith('.') || entry.name === 'node_modules' ? [] : findNotebooks(full);
    return entry.name.endsWith('.ipynb') && !entry.name.endsWith('-checkpoint.ipynb') ? [full] : [];
  });
}

function commonDir(files: string[]): string {
  let dir = path.dirname(files[0]);
  while (!files.every((f) => !path.relative(dir, f).startsWith('..'))) dir = path.dirname(dir);
  return dir;
}

export interface MakeOptions {
  /** the notebook folder whose hierarchy the output mirrors (default: the notebooks' common folder) */
  root?: string;
  /** extra #SBATCH options for every notebook script */
  sbatch?: string[];
  /** configs to write run scripts for (configs with a `slurm` section) */
  configs?: string[];
}

/** Every file make_scripts writes, in memory (for writing or for --check). */
export function generate(notebooks: string[], opts: MakeOptions = {}): OutputFile[] {
  if (notebooks.length === 0) throw new Error('no notebooks to convert');
  const ts = loadTypeScript();
  const files = notebooks.map((n) => path.resolve(n));
  const root = path.resolve(opts.root ?? commonDir(files));
  const out: OutputFile[] = [];
  const dependencies: string[] = [];
  for (const notebook of files) {
    const relative = path.relative(root, notebook).replace(/\.ipynb$/, '');
    if (relative.startsWith('..')) throw new Error(`${notebook} is outside the notebook folder ${root} (give --root)`);
    const name = path.basename(relative);
    const label = path.relative(path.dirname(root), notebook);
    const converted = convertNotebook(ts, notebook, root, name);
    dependencies.push(...converted.dependencies);
    const options = readNotebook(notebook).metadata?.hpcdl?.sbatch ?? DEFAULT_SBATCH;
    out.push({ relative: `${relative}.ts`, content: converted.source, executable: false, source: notebook });
    out.push({ relative: `${relative}.sbatch`, content: notebookSbatchSource(name, label, [...options, ...(opts.sbatch ?? [])]), executable: true, source: notebook });
  }
  for (const module of moduleClosure(ts, dependencies, root)) {
    out.push({ relative: path.relative(root, module), content: fs.readFileSync(module, 'utf8'), executable: false, source: module });
  }
  for (const config of opts.configs ?? []) {
    const parsed = loadConfig(config, { warn: () => undefined });
    if (!parsed.slurm) continue;
    const name = path.basename(config, '.json');
    out.push({ relative: path.join('run_scripts', `${name}.sbatch`), content: runScriptSource(name, path.relative(PACKAGE_ROOT, path.resolve(config)), parsed), executable: true, source: config });
  }
  const seen = new Map<string, string>();
  for (const f of out) {
    const other = seen.get(f.relative);
    if (other) throw new Error(`${f.source} and ${other} would both be written to ${f.relative}`);
    seen.set(f.relative, f.source);
  }
  return out;
}

export function writeOutput(files: OutputFile[], outDir: string): void {
  for (const f of files) {
    const target = path.join(outDir, f.relative);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, f.content, { mode: f.executable ? 0o755 : 0o644 });
    if (f.executable) fs.chmodSync(target, 0o755);
  }
}

/** The generated files that differ from (or are missing in) `outDir`, as one line each. */
export function staleFiles(files: OutputFile[], outDir: string): string[] {
  return files
    .filter((f) => {
      const target = path.join(outDir, f.relative);
      return !fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== f.content;
    })
    .map((f) => {
      const target = path.join(outDir, f.relative);
      return `${target} is ${fs.existsSync(target) ? 'stale' : 'missing'} (from ${path.relative(process.cwd(), f.source) || f.source})`;
    });
}

/** Writes the scripts of `notebooks` to `outDir` (library use and tests). */
export function makeScripts(notebooks: string[], outDir: string, extraSbatch: string[] = [], opts: MakeOptions = {}): MadeScript[] {
  const files = generate(notebooks, { ...opts, sbatch: extraSbatch });
  writeOutput(files, outDir);
  return files
    .filter((f) => f.relative.endsWith('.ts') && f.source.endsWith('.ipynb'))
    .map((f) => ({ notebook: f.source, script: path.join(outDir, f.relative), sbatch: path.join(outDir, f.relative.replace(/\.ts$/, '.sbatch')) }));
}

export const USAGE = `Usage: make_scripts [options] [NOTEBOOK ...]

Turns notebooks into batch scripts (see docs/batch.md). Without NOTEBOOK:
every notebook under hpcdl's notebooks/, and a run script for every config in
configs/ that has a "slurm" section.

  --out DIR          output folder (default batch_scripts); it mirrors the notebook folder:
                     notebooks/networks/x.ipynb -> DIR/networks/x.ts and DIR/networks/x.sbatch
  --root DIR         the notebook folder to mirror (default: notebooks/, or the notebooks' common folder)
  --sbatch OPTION    an extra #SBATCH line for every notebook script, e.g. --sbatch "-p debug"
                     (repeatable; added after the notebook's metadata hpcdl.sbatch, default "-N 1" "-t 00:30:00")
  --configs FILE     write DIR/run_scripts/<config>.sbatch for this config (repeatable; default with no
                     NOTEBOOK: every configs/*.json with a "slurm" section)
  --check            write nothing; exit 1 naming each generated file that is stale or missing
  -h, --help         this text

Cells tagged "interactive-only" are left out. A syntax error or an import
that does not resolve fails the conversion naming the notebook and the cell.`;

/** Values of string options may start with '-' (`--sbatch "-p debug"`): join them to their flag first. */
function joinValues(argv: string[], valued: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (valued.includes(argv[i]) && i + 1 < argv.length) {
      out.push(`${argv[i]}=${argv[i + 1]}`);
      i++;
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

class UsageError extends Error {}

export function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinValues(argv, ['--out', '--root', '--sbatch', '--configs']),
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string', default: 'batch_scripts' },
        root: { type: 'string' },
        sbatch: { type: 'string', multiple: true, default: [] },
        configs: { type: 'string', multiple: true },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split('. ')[0]);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const defaults = positionals.length === 0;
  const notebooks = defaults ? findNotebooks(path.join(PACKAGE_ROOT, 'notebooks')) : positionals;
  for (const n of notebooks) if (!fs.existsSync(n)) throw new UsageError(`no such notebook: ${n}`);
  const configs =
    values.configs ?? (defaults ? fs.readdirSync(path.join(PACKAGE_ROOT, 'configs')).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(PACKAGE_ROOT, 'configs', f)) : []);
  const root = values.root ?? (defaults ? path.join(PACKAGE_ROOT, 'notebooks') : undefined);
  const files = generate(notebooks, { root, sbatch: values.sbatch, configs });
  const outDir = path.resolve(values.out!);
  if (values.check) {
    const stale = staleFiles(files, outDir);
    for (const line of stale) console.error(`make_scripts: ${line}; run make_scripts`);
    if (stale.length === 0) console.log(`make_scripts: ${files.length} files in ${outDir} are up to date`);
    return stale.length ? 1 : 0;
  }
  writeOutput(files, outDir);
  for (const f of files) console.log(`${path.relative(process.cwd(), f.source) || f.source} -> ${path.join(outDir, f.relative)}`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    const usage = error instanceof UsageError;
    console.error(`make_scripts: error: ${(error as Error).message.split('\n')[0]}${usage ? " (see 'make_scripts --help')" : ''}`);
    process.exitCode = usage ? 2 : 1;
  }
}
