/**
 * `hpcdl controller [--ip ADDR] [--port P] [--cluster-id ID] [--resume] [--profile-dir DIR] ...`
 */
import { Controller, type ControllerOptions } from './controller';

const USAGE = `Usage: hpcdl controller [options]
  --ip ADDR            address to bind (default 127.0.0.1; inside a Slurm job the node's
                       primary interface; '*' or 0.0.0.0 = all interfaces)
  --interface NAME     bind to this interface's IPv4 address, e.g. ib0 (the high-speed network)
  --port P             port (default: any free port; with --resume the previous one)
  --cluster-id ID      cluster id (default: random); names the connection file
  --profile-dir DIR    where clusters/<id>.json lives (default $HPCDL_HOME or ~/.hpcdl)
  --resume             replay the journal of an earlier controller of this cluster id,
                       reusing its key and port, so engines and clients reconnect
  --heartbeat-ms N     engine heartbeat interval (default 500)
  --engine-timeout-ms N  declare a silent engine dead after N ms (default 2500)
  --prefetch N         extra tasks per engine beyond its slots when many are queued (default 256)
  --keep-finished N    finished tasks kept in memory for result_request (default 1000000;
                       the oldest are forgotten beyond that)
  --client-grace-ms N  keep a disconnected client's session (subscriptions) N ms for a
                       reconnect, then forget it (default 60000)
  --orphan-grace-ms N  cancel the queued and running tasks of a client that disconnected
                       and has not come back within N ms, unless it connected with
                       persist (default 10000)
  --result-memory-mb N result bytes kept in memory (default 256); results of 64 KiB or more
                       are written to <id>.results/ and leave memory beyond that
  --journal-compact-mb N  compact the journal past N MB (and twice its last compacted size;
                       default 64)
  --engine-losses N    engines that may die under one running task before it fails
                       with EngineLost (default 3; each loss reruns it elsewhere)
  --no-journal         run without a journal (no --resume possible)
  --max-message-bytes N  largest message an authenticated engine or client may send
                       (default 268435456 = 256 MiB, or $HPCDL_MAX_MESSAGE_BYTES)
  --tls / --no-tls     wss:// with a per-cluster certificate pinned in the connection file
                       (default: on when binding anything but loopback)
  --auth-timeout-ms N  close a connection that has not authenticated within N ms (default 10000)
  -h, --help           this text`;

export function parseControllerArgs(argv: string[]): ControllerOptions & { help?: boolean } {
  // accept --flag=value as well as --flag value
  const args = argv.flatMap((a) => (a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a]));
  const opts: ControllerOptions & { help?: boolean } = {};
  let i = 0;
  const value = (flag: string): string => {
    const v = args[++i];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  const int = (flag: string): number => {
    const raw = value(flag);
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    return n;
  };
  for (; i < args.length; i++) {
    const flag = args[i];
    switch (flag) {
      case '--ip': opts.ip = value(flag); break;
      case '--interface': opts.interface = value(flag); break;
      case '--port': opts.port = int(flag); break;
      case '--cluster-id': opts.clusterId = value(flag); break;
      case '--profile-dir': opts.profileDir = value(flag); break;
      case '--resume': opts.resume = true; break;
      case '--heartbeat-ms': opts.heartbeatMs = int(flag); break;
      case '--engine-timeout-ms': opts.engineTimeoutMs = int(flag); break;
      case '--prefetch': opts.prefetch = int(flag); break;
      case '--keep-finished': opts.keepFinished = int(flag); break;
      case '--client-grace-ms': opts.clientGraceMs = int(flag); break;
      case '--engine-losses': opts.engineLosses = int(flag); break;
      case '--orphan-grace-ms': opts.orphanGraceMs = int(flag); break;
      case '--result-memory-mb': opts.resultMemoryMb = int(flag); break;
      case '--journal-compact-mb': opts.journalCompactMb = int(flag); break;
      case '--no-journal': opts.journal = false; break;
      case '--max-message-bytes': opts.maxMessageBytes = int(flag); break;
      case '--auth-timeout-ms': opts.authTimeoutMs = int(flag); break;
      case '--tls': opts.tls = true; break;
      case '--no-tls': opts.tls = false; break;
      case '-h': case '--help': opts.help = true; break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  if (opts.ip && opts.interface) throw new Error('give --ip or --interface, not both');
  if (opts.resume && opts.journal === false) throw new Error('--resume needs the journal; drop --no-journal');
  if (opts.resume && !opts.clusterId) throw new Error('--resume needs --cluster-id (the cluster to take over)');
  return opts;
}

/** Runs until a client sends shutdown_request or the process gets SIGINT/SIGTERM. Returns the exit code. */
export async function controllerMain(argv: string[]): Promise<number> {
  let opts: ReturnType<typeof parseControllerArgs>;
  try {
    opts = parseControllerArgs(argv);
  } catch (err) {
    process.stderr.write(`hpcdl controller: error: ${(err as Error).message} (see 'hpcdl controller --help')\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  let controller: Controller;
  try {
    controller = await Controller.start(opts);
  } catch (err) {
    process.stderr.write(`hpcdl controller: error: ${(err as Error).message.split('\n')[0]}\n`);
    return 1;
  }
  process.stdout.write(`hpcdl controller: cluster ${controller.clusterId} listening on ${controller.url}\n`);
  process.stdout.write(`connection file: ${controller.connectionFile}\n`);
  // The link carries the token: printed whole only to a terminal; a log (a child controller's, a batch job's) gets it without.
  const link = process.stdout.isTTY ? controller.dashboardUrl : `${controller.dashboardUrl.replace(/\?token=.*$/, '')} (token: dashboard_url in the connection file)`;
  process.stdout.write(`dashboard: ${link}\n`);
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const why = await Promise.race([controller.shutdownRequested.then(() => 'shutdown'), signalled]);
  // A signal keeps the connection file and journal so `--resume` can take over;
  // a requested shutdown stops the engines and removes the connection file.
  const requested = why === 'shutdown';
  await controller.close({ stopEngines: requested, removeConnectionFile: requested });
  process.stderr.write(`hpcdl controller: stopped (${why})\n`);
  return 0;
}

if (require.main === module) {
  controllerMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`hpcdl controller: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
