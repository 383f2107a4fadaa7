/**
 * Whether a connection file, or the directory it lives in, can be trusted, in
 * the manner of ssh's StrictModes: another user who can write the file, or
 * replace it through its directory, could point engines at their own
 * controller (which then runs its tasks as the victim) or read the key. A
 * file must belong to this user (or root) and not be writable by group or
 * others; each directory above it, up to `/`, must belong to this user or
 * root and not be writable by group or others unless it has the sticky bit
 * (as /tmp has: there nobody can replace another's file).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

function uid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

function mode(st: fs.Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

/** Why `st` (of `p`) cannot be trusted, or null. */
function problem(p: string, st: fs.Stats, isDir: boolean): string | null {
  const me = uid();
  if (me !== null && st.uid !== me && st.uid !== 0) return `${p} belongs to uid ${st.uid}, not to this user (uid ${me}) or root`;
  const writable = (st.mode & GROUP_OR_OTHER_WRITE) !== 0;
  if (writable && !(isDir && (st.mode & STICKY) !== 0)) return `${p} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${mode(st)}); chmod go-w ${p}`;
  return null;
}

/**
 * Throws, naming the file or directory at fault and what to do, unless `file`
 * (which must exist) and every directory above it can be trusted. `what`
 * starts the message, e.g. "connection file".
 */
export function checkTrusted(file: string, what: string): void {
  if (uid() === null) return; // no owners to compare on this platform
  const abs = path.resolve(file);
  const refuse = (why: string): never => {
    throw new Error(`refusing ${what} ${abs}: ${why} (another user could have written it)`);
  };
  const st = fs.statSync(abs);
  const own = problem(abs, st, st.isDirectory());
  if (own) refuse(own);
  for (let dir = path.dirname(abs); ; dir = path.dirname(dir)) {
    const why = problem(dir, fs.statSync(dir), true);
    if (why) refuse(why);
    if (dir === path.dirname(dir)) break;
  }
}

/** Create `dir` (mode 0700) if needed, then check it as checkTrusted does. */
export function trustedDirectory(dir: string, what: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkTrusted(dir, what);
}
