/** `hpcdl cluster list|prune`: what clusters left in ~/.hpcdl/clusters (cluster/client/local/leftovers.ts). */
import { parse, text } from './args';
import { dispatch, help, optionalModule, PROGRAM, type Command } from './command';
import type * as Leftovers from '../cluster/client/local/leftovers';

const leftovers = () => optionalModule<typeof Leftovers>('cluster/client/local/leftovers', 'the cluster area');

const PROFILE = { 'profile-dir': { type: 'string' as const } };

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const list: Command = {
  summary: 'list the clusters in ~/.hpcdl/clusters (running or stopped, size)',
  usage: `Usage: ${PROGRAM} cluster list [--profile-dir DIR]

Lists every cluster with a connection file or a work directory under
DIR/clusters (default $HPCDL_HOME or ~/.hpcdl): its id, whether its
controller runs, its size and when it last changed.`,
  async run(argv) {
    const { values } = parse(argv, PROFILE);
    if (values.help) return help(list);
    const entries = leftovers().listClusterLeftovers(text(values['profile-dir']));
    if (entries.length === 0) {
      console.log('no clusters');
      return 0;
    }
    const width = Math.max(7, ...entries.map((e) => e.clusterId.length));
    console.log(`${'cluster'.padEnd(width)}  state     size      last change`);
    for (const e of entries) {
      const state = e.running ? `running` : 'stopped';
      console.log(`${e.clusterId.padEnd(width)}  ${state.padEnd(8)}  ${megabytes(e.bytes).padStart(8)}  ${new Date(e.modifiedMs).toISOString().slice(0, 19).replace('T', ' ')}`);
    }
    const stopped = entries.filter((e) => !e.running);
    console.log(`${entries.length} cluster(s), ${stopped.length} stopped (${megabytes(stopped.reduce((n, e) => n + e.bytes, 0))}; ${PROGRAM} cluster prune removes them)`);
    return 0;
  },
};

const prune: Command = {
  summary: 'remove the files of clusters whose controller no longer runs',
  usage: `Usage: ${PROGRAM} cluster prune [--dry-run] [--profile-dir DIR]

Removes the connection file, task journal and work directory (logs) of every
cluster under DIR/clusters whose controller is not running. A stopped
cluster's journal is what --resume needs: prune only what you will not resume.
  --dry-run   list what would be removed`,
  async run(argv) {
    const { values } = parse(argv, { ...PROFILE, 'dry-run': { type: 'boolean' } });
    if (values.help) return help(prune);
    const dryRun = values['dry-run'] === true;
    const removed = leftovers().pruneClusterLeftovers(text(values['profile-dir']), { dryRun });
    for (const e of removed) console.log(`${dryRun ? 'would remove' : 'removed'} ${e.clusterId} (${megabytes(e.bytes)})`);
    console.log(`${dryRun ? 'would remove' : 'removed'} ${removed.length} stopped cluster(s), ${megabytes(removed.reduce((n, e) => n + e.bytes, 0))}`);
    return 0;
  },
};

export const clusterCommand: Command = {
  summary: 'clusters left in ~/.hpcdl/clusters (cluster list | cluster prune)',
  usage: `Usage: ${PROGRAM} cluster list|prune [options]

  list    ${list.summary}
  prune   ${prune.summary}`,
  run: (argv) => dispatch(argv, { list, prune }, clusterCommand, 'cluster'),
};
