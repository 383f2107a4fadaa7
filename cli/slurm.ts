/**
 * `hpcdl slurm hostnames|hostlist|env`: Slurm hostlists without scontrol (as
 * `scontrol show hostnames` / `show hostlist` read and write them) and the
 * allocation this process runs in.
 */
import { parse, UsageError } from './args';
import { dispatch, help, PROGRAM, type Command } from './command';
import { compressHostlist, expandHostlist, HostlistError } from '../cluster/collectives/slurm-hostlist';
import { slurmAllocation } from '../cluster/launchers/slurm-env';

function hostlistArgument(value: string): string[] {
  try {
    return expandHostlist(value);
  } catch (err) {
    if (err instanceof HostlistError) throw new UsageError(err.message);
    throw err;
  }
}

const hostnames: Command = {
  summary: 'one host name per line from a hostlist (scontrol show hostnames)',
  usage: `Usage: ${PROGRAM} slurm hostnames [LIST]

Prints each host of the hostlist LIST (default $SLURM_JOB_NODELIST) on its own line, e.g.
  ${PROGRAM} slurm hostnames 'nid[001-003,007],login1'
Bracket groups may repeat (n[1-2]c[1-2]); ranges keep the zero padding of their start.`,
  async run(argv) {
    const { values, positionals } = parse(argv, {}, true);
    if (values.help) return help(hostnames);
    if (positionals.length > 1) throw new UsageError(`give one hostlist, got ${positionals.length} arguments (quote it)`);
    const list = positionals[0] ?? process.env.SLURM_JOB_NODELIST;
    if (list === undefined) throw new UsageError('give a hostlist (or run inside an allocation, where SLURM_JOB_NODELIST is set)');
    for (const host of hostlistArgument(list)) console.log(host);
    return 0;
  },
};

const hostlist: Command = {
  summary: 'a compressed hostlist from host names (scontrol show hostlist)',
  usage: `Usage: ${PROGRAM} slurm hostlist HOSTS...

Writes the hosts (arguments, each a host or a hostlist; commas allowed) as one hostlist, e.g.
  ${PROGRAM} slurm hostlist nid001 nid002 nid003 login1     → nid[001-003],login1`,
  async run(argv) {
    const { values, positionals } = parse(argv, {}, true);
    if (values.help) return help(hostlist);
    if (positionals.length === 0) throw new UsageError('give the host names to compress');
    console.log(compressHostlist(positionals.flatMap(hostlistArgument)));
    return 0;
  },
};

const env: Command = {
  summary: 'the allocation this shell runs in (job id, nodes, tasks, rank, CPUs, GPUs)',
  usage: `Usage: ${PROGRAM} slurm env [--json]

Prints the Slurm allocation of this process; fails outside one.`,
  async run(argv) {
    const { values } = parse(argv, { json: { type: 'boolean' } });
    if (values.help) return help(env);
    const a = slurmAllocation('listing the allocation');
    if (values.json) {
      console.log(JSON.stringify(a));
      return 0;
    }
    const show = (v: number | null): string => (v === null ? '-' : String(v));
    console.log(`job ${a.jobId}: nodes ${a.nodeList || '-'} (${a.nodes.length}): ${a.nodes.join(' ')}`);
    console.log(`tasks ${show(a.ntasks)}, rank ${show(a.procId)}, local rank ${show(a.localId)}, cpus per task ${show(a.cpusPerTask)}, gpus ${a.gpus.join(',') || '-'}`);
    return 0;
  },
};

const COMMANDS = { hostnames, hostlist, env };

export const slurmCommand: Command = {
  summary: 'Slurm hostlists and the current allocation (slurm hostnames | hostlist | env)',
  usage: `Usage: ${PROGRAM} slurm hostnames|hostlist|env [args...]

${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}`,
  run: (argv) => dispatch(argv, COMMANDS, slurmCommand, 'slurm'),
};
