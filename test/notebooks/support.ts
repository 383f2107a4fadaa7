/** Helpers shared by the notebook tests. */
import fs from 'node:fs';
import path from 'node:path';
import { ContentsManager, KernelManager, SessionManager, type KernelMessage } from '@jupyterlab/services';
import { outputsFromMessages, REPO_ROOT, sleep, withTimeout, type JupyterServer, type Notebook, type NotebookOutput } from '../support/jupyter';

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

export interface NotebookExecution {
  notebook: Notebook;
  savedPath: string;
  failedCells: number[];
  /** Every IOPub message of the session, in arrival order. */
  messages: KernelMessage.IIOPubMessage[];
}

/**
 * Executes a notebook top to bottom like ../support/jupyter's executeNotebook,
 * but builds the saved outputs from the kernel's whole IOPub stream
 * (`kernel.iopubMessage`), not from each cell's future: @jupyterlab/services
 * reroutes an update_display_data whose display_id was created by an earlier
 * cell to that cell's (finished, disposed) future, so a future-based executor
 * never sees live updates of displays made in earlier cells, and the saved
 * notebook would keep their first state.
 */
export async function runNotebook(
  server: JupyterServer,
  notebookPath: string,
  options: { kernelName: string; cellTimeoutMs?: number; saveAs?: string; onCellDone?: (index: number) => void },
): Promise<NotebookExecution> {
  const contents = new ContentsManager({ serverSettings: server.settings });
  const notebook = (await contents.get(notebookPath, { type: 'notebook', content: true })).content as Notebook;
  const kernels = new KernelManager({ serverSettings: server.settings });
  const sessions = new SessionManager({ serverSettings: server.settings, kernelManager: kernels });
  await sessions.ready;
  const session = await sessions.startNew({ path: notebookPath, type: 'notebook', name: path.posix.basename(notebookPath), kernel: { name: options.kernelName } });
  const kernel = session.kernel;
  if (!kernel) throw new Error(`session for ${notebookPath} has no kernel`);
  const messages: KernelMessage.IIOPubMessage[] = [];
  kernel.iopubMessage.connect((_, msg) => {
    messages.push(msg);
  });
  const requestIds = new Map<number, string>();
  const failedCells: number[] = [];
  try {
    await withTimeout(kernel.info, 60_000, `kernel ${options.kernelName} did not start`);
    for (let i = 0; i < notebook.cells.length; i++) {
      const cell = notebook.cells[i];
      if (cell.cell_type !== 'code') continue;
      const code = Array.isArray(cell.source) ? cell.source.join('') : cell.source;
      const future = kernel.requestExecute({ code, stop_on_error: true, store_history: true });
      requestIds.set(i, future.msg.header.msg_id);
      const timeoutMs = options.cellTimeoutMs ?? 120_000;
      let reply: KernelMessage.IExecuteReplyMsg;
      try {
        reply = await withTimeout(future.done, timeoutMs, `${notebookPath}: cell ${i} did not finish within ${timeoutMs} ms:\n${code}`);
      } catch (error) {
        await kernel.interrupt().catch(() => undefined);
        throw error;
      }
      cell.execution_count = (reply.content as { execution_count?: number }).execution_count ?? null;
      options.onCellDone?.(i);
      if (reply.content.status !== 'ok') {
        failedCells.push(i);
        break;
      }
    }
    await sleep(300); // display updates flushed just after the last cell
  } finally {
    await session.shutdown().catch(() => undefined);
    sessions.dispose();
    kernels.dispose();
  }
  const displayOwners = new Map<string, NotebookOutput[]>();
  for (const [index, msgId] of requestIds) {
    const own = messages.filter((m) => (m.parent_header as { msg_id?: string }).msg_id === msgId);
    notebook.cells[index].outputs = outputsFromMessages(own, displayOwners);
  }
  notebook.metadata.kernelspec = { name: options.kernelName, display_name: 'HPC DL (TypeScript)', language: 'typescript' };
  const savedPath = options.saveAs ?? notebookPath;
  await contents.save(savedPath, { type: 'notebook', format: 'json', content: notebook });
  return { notebook, savedPath, failedCells, messages };
}
