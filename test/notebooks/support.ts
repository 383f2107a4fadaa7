/** Helpers shared by the notebook tests. */
import fs from 'node:fs';
import path from 'node:path';
import { executeNotebook, REPO_ROOT, type JupyterServer, type NotebookOutput, type NotebookRun } from '../support/jupyter';

export const NOTEBOOK_DIR = path.join(REPO_ROOT, 'notebooks');
export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

export interface PlotlyTraceJson {
  name?: string;
  x: unknown[];
  y: unknown[];
  yaxis?: string;
  [key: string]: unknown;
}

export interface PlotlyFigureJson {
  data: PlotlyTraceJson[];
  layout: Record<string, unknown>;
}

/** Copies notebooks/ (notebooks and their .ts modules) into a server root, skipping run outputs. */
export function copyNotebookTree(targetRoot: string): void {
  fs.cpSync(NOTEBOOK_DIR, targetRoot, {
    recursive: true,
    filter: (src) => !/hpcdl-notebook-runs|\.ipynb_checkpoints/.test(src),
  });
}

export function streamText(outputs: { output: NotebookOutput }[], name: 'stdout' | 'stderr'): string {
  return outputs
    .map((o) => o.output)
    .filter((o): o is Extract<NotebookOutput, { output_type: 'stream' }> => o.output_type === 'stream' && o.name === name)
    .map((o) => textOf(o.text))
    .join('');
}

/** nbformat stores multi-line strings as a list of lines in saved notebooks. */
export function textOf(value: unknown): string {
  if (Array.isArray(value)) return value.join('');
  return typeof value === 'string' ? value : '';
}

/** The text/plain of every display_data output. */
export function displayTexts(outputs: { output: NotebookOutput }[]): string[] {
  return outputs
    .map((o) => o.output)
    .filter((o): o is Extract<NotebookOutput, { output_type: 'display_data' }> => o.output_type === 'display_data')
    .map((o) => textOf(o.data['text/plain']));
}

/** The plotly figures among display_data / execute_result outputs. */
export function plotlyFigures(outputs: { output: NotebookOutput }[]): PlotlyFigureJson[] {
  const figures: PlotlyFigureJson[] = [];
  for (const { output } of outputs) {
    if (output.output_type !== 'display_data' && output.output_type !== 'execute_result') continue;
    const fig = output.data[PLOTLY_MIME] as PlotlyFigureJson | undefined;
    if (fig && Array.isArray(fig.data)) figures.push(fig);
  }
  return figures;
}

/**
 * Executes a notebook top to bottom with the shared harness
 * (../support/jupyter executeNotebook: outputs built from the kernel's whole
 * IOPub stream, display updates applied across cells), stopping at the first
 * failing cell.
 */
export function runNotebook(
  server: JupyterServer,
  notebookPath: string,
  options: { kernelName: string; cellTimeoutMs?: number; saveAs?: string; onCellDone?: (index: number) => void },
): Promise<NotebookRun> {
  return executeNotebook(server, notebookPath, {
    kernelName: options.kernelName,
    cellTimeoutMs: options.cellTimeoutMs,
    saveAs: options.saveAs,
    onCell: options.onCellDone ? (index) => options.onCellDone!(index) : undefined,
  });
}
