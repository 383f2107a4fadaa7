/**
 * Interrupts reach the cluster clients of this process two ways: a SIGINT
 * (a script's Ctrl-C) and the hpcdl kernel's interrupt registry (a notebook
 * interrupt). Either cancels the clients' outstanding remote tasks.
 */
import { currentDisplayChannel, INTERRUPT_REGISTRY_KEY } from '../../src/notebook-hooks';

/** What an interrupt needs from a connected client. */
export interface Interruptible {
  /** cancel every outstanding task; resolves with how many */
  interruptAll(): Promise<number>;
  readonly outstanding: string[];
  close(): Promise<void>;
}

/** Every connected client of this process (for a kernel-wide interrupt). */
const liveClients = new Set<Interruptible>();
/** The hpcdl kernel's interrupt registry (src/notebook-hooks): callbacks on globalThis under this well-known symbol. */
const KERNEL_INTERRUPT_REGISTRY = INTERRUPT_REGISTRY_KEY;

/** Cancel the outstanding tasks of every connected client of this process; how many were cancelled. */
export async function interruptAllClients(): Promise<number> {
  const counts = await Promise.all([...liveClients].map((c) => c.interruptAll().catch(() => 0)));
  return counts.reduce((a, b) => a + b, 0);
}

/** Close every connected client of this process (a failed batch script stops the clusters it started). */
export async function closeAllClients(): Promise<void> {
  await Promise.all([...liveClients].map((c) => c.close().catch(() => undefined)));
}

async function interruptFromKernel(): Promise<void> {
  const n = await interruptAllClients();
  if (n > 0) process.stderr.write(`hpcdl: interrupted; cancelled ${n} remote task(s)\n`);
}

function kernelRegistry(): Set<unknown> {
  const holder = globalThis as unknown as Record<symbol, Set<unknown> | undefined>;
  return (holder[KERNEL_INTERRUPT_REGISTRY] ??= new Set());
}

/** A client connected: a kernel interrupt now reaches it. */
export function addInterruptible(client: Interruptible): void {
  liveClients.add(client);
  kernelRegistry().add(interruptFromKernel);
}

/** A client closed; the kernel hook goes with the last one. */
export function removeInterruptible(client: Interruptible): void {
  liveClients.delete(client);
  if (liveClients.size === 0) kernelRegistry().delete(interruptFromKernel);
}

/**
 * On SIGINT cancel the client's remote tasks; when nobody else listens for
 * SIGINT, also close it and exit 130. Returns the uninstaller.
 */
export function installSigint(client: Interruptible, log: (line: string) => void): () => void {
  const handler = (): void => {
    const n = client.outstanding.length;
    const othersListen = process.listenerCount('SIGINT') > 1;
    // In the hpcdl kernel its interrupt registry cancels (and says so) once for every client.
    if (othersListen && currentDisplayChannel() !== null) return;
    if (n > 0) log(`hpcdl: interrupted; cancelling ${n} remote task(s)`);
    const cancelled = client.interruptAll().catch(() => 0);
    if (othersListen) return; // a kernel or app handles SIGINT itself; we only cancel our tasks
    void cancelled.then(() => client.close()).finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  return () => process.removeListener('SIGINT', handler);
}
