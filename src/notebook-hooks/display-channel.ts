/**
 * The channel through which library code (src/plots) publishes
 * display_data / update_display_data to the notebook. Imports nothing heavy,
 * so it can be used from any layer.
 *
 * In the hpcdl kernel the channel is installed by the kernel itself. Under a
 * stock tslab kernel it falls back to tslab's own display writer. Outside a
 * kernel there is no channel and callers decide what to do (LiveFigure keeps
 * its state and shows nothing).
 */
import { createRequire } from 'node:module';

export interface DisplayContent {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient?: { display_id?: string };
}

export interface DisplayChannel {
  publish(content: DisplayContent, update: boolean): void;
}

interface KernelDisplayState {
  channel: DisplayChannel | null;
  cellEndHooks: Set<() => void>;
}

const STATE_KEY = Symbol.for('hpcdl.kernel.display');

function state(): KernelDisplayState {
  const holder = globalThis as unknown as Record<symbol, KernelDisplayState | undefined>;
  let s = holder[STATE_KEY];
  if (!s) {
    s = { channel: null, cellEndHooks: new Set() };
    holder[STATE_KEY] = s;
  }
  return s;
}

/** Installed by the kernel; `null` removes it. */
export function setDisplayChannel(channel: DisplayChannel | null): void {
  state().channel = channel;
}

/** The channel to the notebook, or null when not running inside a kernel. */
export function currentDisplayChannel(): DisplayChannel | null {
  const own = state().channel;
  if (own) return own;
  return stockTslabChannel();
}

/**
 * Registers a hook the kernel runs once after the current cell's code has
 * finished and before it sends the execute reply (used to flush throttled
 * display updates so the final state is part of the cell's output).
 */
export function beforeCellEnds(hook: () => void): void {
  state().cellEndHooks.add(hook);
}

/** Runs and clears the cell-end hooks; called by the kernel. */
export function runCellEndHooks(onError: (error: unknown) => void): void {
  const hooks = Array.from(state().cellEndHooks);
  state().cellEndHooks.clear();
  for (const hook of hooks) {
    try {
      hook();
    } catch (error) {
      onError(error);
    }
  }
}

/** Under a stock tslab kernel its jupyter module is already loaded; never load it here. */
function stockTslabChannel(): DisplayChannel | null {
  let jupyterPath: string;
  try {
    jupyterPath = createRequire(require.resolve('tslab/package.json')).resolve('./dist/jupyter.js');
  } catch {
    return null;
  }
  const loaded = require.cache[jupyterPath]?.exports as
    | { lastWriteDisplayData?: ((c: DisplayContent, u: boolean) => void) | null }
    | undefined;
  const write = loaded?.lastWriteDisplayData;
  if (!write) return null;
  return { publish: (content, update) => write(content, update) };
}
