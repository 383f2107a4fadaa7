/**
 * Kernel interrupt hook. Cells and library code (e.g. the cluster client)
 * register callbacks here; the hpcdl kernel runs them when the user interrupts
 * the kernel (SIGINT from the Jupyter server, or an `interrupt_request`).
 *
 * This module imports nothing so that anything can depend on it without a
 * cycle. The registry lives on `globalThis` under a `Symbol.for` key so that
 * two copies of this module (e.g. one loaded from dist/ by the kernel and one
 * loaded through tsx in a test) share the same callbacks.
 */

export type InterruptCallback = (reason: string) => void | Promise<void>;

export interface InterruptOutcome {
  /** Number of callbacks that were run. */
  ran: number;
  /** Errors thrown or rejected by callbacks (each callback runs regardless). */
  errors: unknown[];
}

/** The registry's key on globalThis (the kernel, the cluster client and cells all reach the same Set). */
export const INTERRUPT_REGISTRY_KEY = Symbol.for('hpcdl.kernel.interruptCallbacks');
const SIGNAL_KEY = Symbol.for('hpcdl.kernel.interruptController');

function registry(): Set<InterruptCallback> {
  const holder = globalThis as unknown as Record<symbol, Set<InterruptCallback> | undefined>;
  let callbacks = holder[INTERRUPT_REGISTRY_KEY];
  if (!callbacks) {
    callbacks = new Set();
    holder[INTERRUPT_REGISTRY_KEY] = callbacks;
  }
  return callbacks;
}

/**
 * Registers `callback` to run when the kernel is interrupted.
 * Returns a function that unregisters it. Registering the same function twice
 * keeps a single registration.
 */
export function onInterrupt(callback: InterruptCallback): () => void {
  if (typeof callback !== 'function') {
    throw new TypeError(`onInterrupt: callback must be a function, got ${typeof callback}`);
  }
  const callbacks = registry();
  callbacks.add(callback);
  return () => {
    callbacks.delete(callback);
  };
}

function controller(): AbortController {
  const holder = globalThis as unknown as Record<symbol, AbortController | undefined>;
  let current = holder[SIGNAL_KEY];
  if (!current || current.signal.aborted) {
    current = new AbortController();
    holder[SIGNAL_KEY] = current;
  }
  return current;
}

/**
 * An AbortSignal that is aborted at the next kernel interrupt. Get it in the
 * cell that starts long-running work and pass it on, e.g.
 * `await train({..., signal: interruptSignal()})`: the kernel aborts it first
 * and lets the cell end by itself for up to INTERRUPT_GRACE_MS, so the work
 * stops inside the interrupted cell. After an interrupt, the next call
 * returns a fresh signal (a stored one stays aborted).
 */
export function interruptSignal(): AbortSignal {
  return controller().signal;
}

/** Number of currently registered interrupt callbacks. */
export function interruptCallbackCount(): number {
  return registry().size;
}

/**
 * Runs every registered callback (concurrently) and waits for all of them.
 * Called by the kernel on interrupt; callable directly to simulate one.
 */
export async function runInterruptCallbacks(reason = 'interrupt'): Promise<InterruptOutcome> {
  controller().abort(new Error(`kernel interrupted (${reason})`));
  const callbacks = Array.from(registry());
  const results = await Promise.allSettled(
    callbacks.map(async (callback) => callback(reason)),
  );
  const errors = results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => r.reason);
  return { ran: callbacks.length, errors };
}
