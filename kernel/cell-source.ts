/**
 * Source rewrites applied to a cell before tslab converts it, for two tslab
 * 1.0 converter gaps:
 *
 * - Shorthand properties. tslab turns every reference to a name declared in an
 *   earlier cell into `exports.name`, but it finds those references with
 *   `checker.getSymbolAtLocation`, which for the name of a shorthand property
 *   (`{ model }`) returns the property, not the variable. The name is left
 *   bare and the cell throws "model is not defined" at run time. Writing the
 *   shorthand out (`{ model: model }`) gives the value its own identifier,
 *   which tslab does rewrite. Same meaning in object literals and in
 *   destructuring assignments (`({ a = 1 } = o)` → `({ a: a = 1 } = o)`).
 * - `export`. tslab exports every top-level name of a cell itself, by
 *   appending `export { ... }`, so an explicit `export const x` conflicts with
 *   it ("Cannot redeclare exported variable"). The `export` keyword is blanked
 *   out (same length, so diagnostics keep their columns), as is a plain
 *   `export { a, b }` list.
 */
import type * as TS from 'typescript';

export interface NormalizedCell {
  /** The source to convert. */
  source: string;
  /** The source with only position-preserving rewrites, for reporting compile errors at the user's columns. */
  sameColumns: string;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

export function normalizeCellSource(ts: typeof TS, source: string): NormalizedCell {
  const file = ts.createSourceFile('cell.ts', source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const blanks = exportBlanks(ts, file);
  const shorthands = shorthandExpansions(ts, file);
  return {
    source: applyEdits(source, [...blanks, ...shorthands]),
    sameColumns: applyEdits(source, blanks),
  };
}

function exportBlanks(ts: typeof TS, file: TS.SourceFile): Edit[] {
  const edits: Edit[] = [];
  for (const statement of file.statements) {
    if (ts.isExportDeclaration(statement) && isPlainExportList(ts, statement)) {
      edits.push(blank(file, statement.getStart(file), statement.end));
      continue;
    }
    if (!ts.canHaveModifiers(statement)) continue;
    const modifiers = ts.getModifiers(statement) ?? [];
    if (modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) continue;
    const exportKeyword = modifiers.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (exportKeyword) edits.push(blank(file, exportKeyword.getStart(file), exportKeyword.end));
  }
  return edits;
}

/** `export { a, b }`: no module specifier, no renames, not type-only. */
function isPlainExportList(ts: typeof TS, statement: TS.ExportDeclaration): boolean {
  if (statement.moduleSpecifier || statement.isTypeOnly || !statement.exportClause) return false;
  if (!ts.isNamedExports(statement.exportClause)) return false;
  return statement.exportClause.elements.every((element) => !element.propertyName && !element.isTypeOnly);
}

function shorthandExpansions(ts: typeof TS, file: TS.SourceFile): Edit[] {
  const edits: Edit[] = [];
  const visit = (node: TS.Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) {
      edits.push({ start: node.name.end, end: node.name.end, text: `: ${node.name.text}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return edits;
}

/** Spaces in place of the text, line breaks kept, so every other token keeps its line and column. */
function blank(file: TS.SourceFile, start: number, end: number): Edit {
  return { start, end, text: file.text.slice(start, end).replace(/[^\r\n]/g, ' ') };
}

function applyEdits(source: string, edits: Edit[]): string {
  let result = source;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    result = result.slice(0, edit.start) + edit.text + result.slice(edit.end);
  }
  return result;
}
