/**
 * The kernel exits when the Jupyter server that started it is gone, as
 * ipykernel's parent poller does: a server killed without shutting its
 * kernels down (SIGKILL, two Ctrl-C with no terminal) must not leave kernels,
 * and the clusters their cells started, running.
 *
 * Two signs, checked every PARENT_POLL_MS: our parent process changed (we were
 * reparented to init or a subreaper), or the process named by JPY_PARENT_PID
 * (set by jupyter_client; differs from our parent when a wrapper script or
 * `module load` shell sits in between) no longer exists or is a zombie.
 */
import fs from 'node:fs';

/** Poll period; a second is what ipykernel's ParentPollerUnix uses. */
export const PARENT_POLL_MS = 1000;

/** Alive and not a zombie (a killed server is a zombie until init reaps it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) succeeded
  }
}

/** Calls `onGone(reason)` once when the parent is gone; returns a stop function. */
export function watchParent(onGone: (reason: string) => void, env: NodeJS.ProcessEnv = process.env): () => void {
  const startPpid = process.ppid;
  const declared = Number(env.JPY_PARENT_PID);
  const jupyterPid = Number.isInteger(declared) && declared > 1 ? declared : null;
  const timer = setInterval(() => {
    let reason: string | null = null;
    if (process.ppid !== startPpid) reason = `parent process ${startPpid} is gone (now ${process.ppid})`;
    else if (jupyterPid !== null && !processAlive(jupyterPid)) reason = `Jupyter server (JPY_PARENT_PID ${jupyterPid}) is gone`;
    if (reason === null) return;
    clearInterval(timer);
    onGone(reason);
  }, PARENT_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
