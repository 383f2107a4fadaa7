/**
 * `hpcdl engine --connect FILE|ID [--slots N] [--gpus LIST] [--label k=v] [--task-memory-mb N]
 *               [--reconnect-timeout SECONDS] [--profile-dir DIR]`
 */
import * as os from 'node:os';
import { pinToSlurmShare } from '../launchers/slurm-env';
import { readConnectionFile } from '../protocol';
import { Engine } from './engine';

export const ENGINE_USAGE = `Usage: hpcdl engine --connect FILE|ID [options]
  --connect FILE|ID          connection file written by "hpcdl controller", or its cluster id
                             (looked up under $HPCDL_HOME/clusters, default ~/.hpcdl/clusters)
  --slots N                  tasks run at once (default 1)
  --gpus LIST                GPU indexes this engine owns, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES)
  --label KEY=VALUE          extra label shown with the engine (repeatable)
  --task-memory-mb N         memory limit per task (V8 heap + Buffers, or its RSS growth);
                             a task above it fails with TaskOutOfMemory, the engine stays up
  --reconnect-timeout S      give up when the controller is unreachable this long (default 120)
  --profile-dir DIR          where cluster connection files live (default ~/.hpcdl)
`;

export interface EngineArgs {
  connect: string;
  slots: number;
  gpus?: number[];
  labels: Record<string, string>;
  taskMemoryMb?: number;
  reconnectTimeoutS: number;
  profileDir?: string;
}

function positiveInt(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} expects a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseEngineArgs(argv: string[]): EngineArgs {
  const out: Partial<EngineArgs> & { labels: Record<string, string> } = { slots: 1, labels: {}, reconnectTimeoutS: 120 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--connect':
        out.connect = value();
        break;
      case '--slots':
        out.slots = positiveInt('--slots', value());
        break;
      case '--gpus': {
        const list = value();
        out.gpus = list === '' || list === 'none' ? [] : list.split(',').map((g) => {
          const n = Number(g);
          if (!Number.isInteger(n) || n < 0) throw new Error(`--gpus expects a comma-separated list of GPU indexes, got ${JSON.stringify(list)}`);
          return n;
        });
        break;
      }
      case '--label': {
        const kv = value();
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new Error(`--label expects KEY=VALUE, got ${JSON.stringify(kv)}`);
        out.labels[kv.slice(0, eq)] = kv.slice(eq + 1);
        break;
      }
      case '--task-memory-mb':
        out.taskMemoryMb = positiveInt('--task-memory-mb', value());
        break;
      case '--reconnect-timeout':
        out.reconnectTimeoutS = positiveInt('--reconnect-timeout', value());
        break;
      case '--profile-dir':
        out.profileDir = value();
        break;
      case '-h':
      case '--help':
        throw new HelpRequested();
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  if (!out.connect) throw new Error('--connect FILE|ID is required');
  return out as EngineArgs;
}

class HelpRequested extends Error {}

/** Entry of `hpcdl engine`. Resolves with the process exit code (0 shut down, 1 cannot start, 2 usage, 3 unreachable, 4 refused). */
export async function engineMain(argv: string[]): Promise<number> {
  let args: EngineArgs;
  try {
    args = parseEngineArgs(argv);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(ENGINE_USAGE);
      return 0;
    }
    process.stderr.write(`hpcdl engine: error: ${(err as Error).message} (see 'hpcdl engine --help')\n`);
    return 2;
  }
  let engine: Engine;
  try {
    const pinned = pinToSlurmShare(process.env, os.availableParallelism());
    if (Object.keys(pinned).length) process.stderr.write(`hpcdl engine: Slurm task ${process.env.SLURM_PROCID} (local ${process.env.SLURM_LOCALID}) on ${os.hostname()}: ${Object.entries(pinned).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    const connection = readConnectionFile(args.connect, args.profileDir);
    engine = new Engine({
      connection,
      slots: args.slots,
      gpus: args.gpus,
      labels: args.labels,
      maxTaskMemoryMb: args.taskMemoryMb,
      reconnectTimeoutMs: args.reconnectTimeoutS * 1000,
    });
  } catch (err) {
    process.stderr.write(`hpcdl engine: error: ${(err as Error).message.split('\n')[0]}\n`);
    return 1;
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`[engine ${engine.id ?? '?'}] ${signal}: stopping\n`);
    void engine.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await engine.start();
  const exit = await engine.exited;
  process.removeListener('SIGTERM', onSignal);
  process.removeListener('SIGINT', onSignal);
  return exit.code;
}
