export const KERNEL_DISPLAY_NAME = 'HPC DL (TypeScript)';
