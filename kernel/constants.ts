export const KERNEL_DISPLAY_NAME = 'HPC DL (TypeScript)';

/** How long an interrupted cell may take to stop by itself before its await is abandoned (ms). */
export const INTERRUPT_GRACE_MS = 1000;
