/** Whether the controller named in a connection file still runs (a zombie does not). */
import * as fs from 'node:fs';

/**
 * True when `pid` is a live process other than this one. A zombie (killed,
 * not yet reaped by its parent: state Z in /proc/<pid>/stat) or a dying one
 * (X) answers kill(pid, 0) but serves nothing, so it counts as dead.
 */
export function isProcessRunning(pid: number): boolean {
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = procState(pid);
  return state !== 'Z' && state !== 'X';
}

/** The one-letter state of /proc/<pid>/stat, or null where /proc cannot tell. */
export function procState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}
