/** Batch scripts made from notebooks (make_scripts.ts): their runtime and display channel. */
export { startBatchScript, batchScriptUsage, type BatchScript, type BatchScriptOptions } from './script-runtime';
export { FileDisplayChannel } from './file-display';
