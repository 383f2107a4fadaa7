/**
 * What clusters leave in `<profile>/clusters` (default ~/.hpcdl/clusters): a
 * connection file `<id>.json` and the task journal `<id>.journal.jsonl` (both
 * kept after a controller SIGTERM, for --resume) and a work directory `<id>/`
 * (controller and engine logs). `hpcdl cluster list` shows them; `hpcdl cluster prune` removes
 * those whose controller no longer runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hpcdlHome } from '../../protocol';

export interface ClusterLeftover {
  clusterId: string;
  /** the connection file, if there is one */
  connectionFile: string | null;
  /** the work directory, if there is one */
  workDir: string | null;
  /** other files of the cluster (the journal) */
  files: string[];
  /** controller pid from the connection file */
  pid: number | null;
  /** the controller process is alive (only with a connection file naming its pid) */
  running: boolean;
  /** bytes under the work directory plus the connection file */
  bytes: number;
  /** newest modification time of the entries, ms since the epoch */
  modifiedMs: number;
}

const JOURNAL_SUFFIX = '.journal.jsonl';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sizeOf(p: string): number {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, name) => n + sizeOf(path.join(p, name)), 0);
}

/** Every cluster with a connection file or a work directory under the profile, oldest first. */
export function listClusterLeftovers(profileDir?: string): ClusterLeftover[] {
  const dir = path.join(hpcdlHome(profileDir), 'clusters');
  if (!fs.existsSync(dir)) return [];
  const byId = new Map<string, ClusterLeftover>();
  const entry = (id: string): ClusterLeftover => {
    let e = byId.get(id);
    if (!e) byId.set(id, (e = { clusterId: id, connectionFile: null, workDir: null, files: [], pid: null, running: false, bytes: 0, modifiedMs: 0 }));
    return e;
  };
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    const st = fs.lstatSync(full);
    if (st.isDirectory()) {
      const e = entry(name);
      e.workDir = full;
      e.bytes += sizeOf(full);
      e.modifiedMs = Math.max(e.modifiedMs, st.mtimeMs);
    } else if (name.endsWith(JOURNAL_SUFFIX)) {
      const e = entry(name.slice(0, -JOURNAL_SUFFIX.length));
      e.files.push(full);
      e.bytes += st.size;
      e.modifiedMs = Math.max(e.modifiedMs, st.mtimeMs);
    } else if (name.endsWith('.json')) {
      const e = entry(name.slice(0, -'.json'.length));
      e.connectionFile = full;
      e.bytes += st.size;
      e.modifiedMs = Math.max(e.modifiedMs, st.mtimeMs);
      try {
        const pid = (JSON.parse(fs.readFileSync(full, 'utf8')) as { pid?: unknown }).pid;
        if (typeof pid === 'number' && Number.isInteger(pid) && pid > 0) e.pid = pid;
      } catch {
        // unreadable or not JSON: not a running cluster's file
      }
    }
  }
  for (const e of byId.values()) e.running = e.pid !== null && alive(e.pid);
  return [...byId.values()].sort((a, b) => a.modifiedMs - b.modifiedMs);
}

/** Removes the connection file, journal and work directory of every cluster whose controller is not running. */
export function pruneClusterLeftovers(profileDir?: string, opts: { dryRun?: boolean } = {}): ClusterLeftover[] {
  const stopped = listClusterLeftovers(profileDir).filter((e) => !e.running);
  if (!opts.dryRun) {
    for (const e of stopped) {
      if (e.connectionFile) fs.rmSync(e.connectionFile, { force: true });
      if (e.workDir) fs.rmSync(e.workDir, { recursive: true, force: true });
      for (const f of e.files) fs.rmSync(f, { force: true });
    }
  }
  return stopped;
}

/** Removes one cluster's work directory, connection file and journal (what a closed local cluster leaves). */
export function removeClusterFiles(workDir: string, connectionFile: string): void {
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.rmSync(connectionFile, { force: true });
  fs.rmSync(connectionFile.replace(/\.json$/, JOURNAL_SUFFIX), { force: true });
}
