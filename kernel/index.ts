/** Public API of the hpcdl kernel layer. Importing this does not start a kernel. */
export { onInterrupt, interruptSignal, runInterruptCallbacks, interruptCallbackCount } from '../src/notebook-hooks';
export type { InterruptCallback, InterruptOutcome } from '../src/notebook-hooks';
export { currentDisplayChannel, beforeCellEnds } from '../src/notebook-hooks';
export type { DisplayChannel, DisplayContent } from '../src/notebook-hooks';
export { installKernel, kernelInstallMain, parseKernelInstallArgs, kernelsDir, userJupyterDataDir } from './install';
export { kernelJupyterMain, findJupyterFrontend } from './jupyter';
export type { KernelInstallOptions, InstalledKernel, KernelSpecJson } from './install';
export { INTERRUPT_GRACE_MS, KERNEL_DISPLAY_NAME } from './constants';
export { MIME_BUNDLE } from '../src/notebook-hooks';
