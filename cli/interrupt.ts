/**
 * Ctrl-C for a command that trains. First Ctrl-C: finish the current step,
 * write a checkpoint, exit 130. Second Ctrl-C: exit at once.
 */
export function interruptToStop(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    process.stderr.write('\ninterrupted: stopping after this step and writing a checkpoint (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.off('SIGINT', onSigint) };
}
