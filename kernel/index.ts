/** Public API of the hpcdl kernel layer. Importing this does not start a kernel. */
export { onInterrupt, interruptSignal, runInterruptCallbacks, interruptCallbackCount } from './interrupt';
export type { InterruptCallback, InterruptOutcome } from './interrupt';
export { currentDisplayChannel, beforeCellEnds } from './display';
export type { DisplayChannel, DisplayContent } from './display';
export { installKernel, kernelInstallMain, parseKernelInstallArgs, kernelsDir, userJupyterDataDir } from './install';
export { kernelJupyterMain, findJupyterFrontend } from './jupyter';
export type { KernelInstallOptions, InstalledKernel, KernelSpecJson } from './install';
export { INTERRUPT_GRACE_MS, KERNEL_DISPLAY_NAME } from './constants';
export { MIME_BUNDLE } from './mime';
