/**
 * What the library (src/plots), the cluster client and the kernel share: the
 * display channel, the MIME bundle symbol and the interrupt registry. A leaf:
 * it imports nothing of the project, and keeps its state on `globalThis` under
 * `Symbol.for` keys so that two copies (dist/ and tsx sources) share it.
 */
export { onInterrupt, interruptSignal, runInterruptCallbacks, interruptCallbackCount, INTERRUPT_REGISTRY_KEY } from './interrupt-registry';
export type { InterruptCallback, InterruptOutcome } from './interrupt-registry';
export { currentDisplayChannel, setDisplayChannel, beforeCellEnds, runCellEndHooks } from './display-channel';
export type { DisplayChannel, DisplayContent } from './display-channel';
export { MIME_BUNDLE } from './mime-bundle';
