/** Start a test group of real rank processes (./rank.ts) on loopback and collect what each prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { RankArgs, Step } from './rank';

const RANK = path.join(__dirname, 'rank.ts');

export interface RankProcess {
  rank: number;
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  stderr(): string;
  /** resolves with the first line matching `re` (rejects when the process exits first or after timeoutMs) */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
}

function startRank(args: RankArgs, env: NodeJS.ProcessEnv = {}): RankProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', RANK, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    rank: args.rank,
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitFor(re, timeoutMs) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`rank ${args.rank}: no line matching ${re} within ${timeoutMs} ms; output:\n${lines.join('\n')}\n${stderr}`)), timeoutMs);
        waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        exited.then(() => setTimeout(() => reject(new Error(`rank ${args.rank} exited before printing ${re}; output:\n${lines.join('\n')}\n${stderr}`)), 100));
      });
    },
  };
}

export interface GroupRun {
  ranks: RankProcess[];
  /** every rank's RESULT values, by rank */
  results(): Promise<unknown[][]>;
  kill(): void;
}

/** Rank 0 first; the others once rank 0 prints its address. `keys[r]` overrides the key of rank r. */
export interface GroupOptions {
  keys?: Record<number, string>;
  timeoutMs?: number;
  heartbeatTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** start only these ranks (default all) */
  only?: number[];
}

export async function startGroup(size: number, steps: Step[], opts: GroupOptions = {}): Promise<GroupRun> {
  const groupId = `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const key = 'a'.repeat(64);
  const base = { groupId, size, steps, timeoutMs: opts.timeoutMs, heartbeatTimeoutMs: opts.heartbeatTimeoutMs };
  const zero = startRank({ ...base, rank: 0, key: opts.keys?.[0] ?? key }, opts.env);
  const ranks = [zero];
  try {
    const master = (await zero.waitFor(/^LISTENING /, 30_000)).slice('LISTENING '.length);
    for (let r = 1; r < size; r++) if (!opts.only || opts.only.includes(r)) ranks.push(startRank({ ...base, rank: r, key: opts.keys?.[r] ?? key, master }, opts.env));
  } catch (err) {
    zero.child.kill('SIGKILL');
    throw err;
  }
  const kill = () => {
    for (const r of ranks) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  };
  return {
    ranks,
    kill,
    async results() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 60_000)));
      const codes = await Promise.all(ranks.map((r) => Promise.race([r.exited, timeout])));
      clearTimeout(timer);
      const bad = codes.map((c, r) => (c === 0 ? null : `rank ${r} exit ${c}:\n${ranks[r].lines.join('\n')}`)).filter(Boolean);
      if (bad.length) {
        kill();
        throw new Error(bad.join('\n'));
      }
      return ranks.map((r) => r.lines.filter((l) => l.startsWith('RESULT ')).map((l) => (JSON.parse(l.slice(7)) as { value: unknown }).value));
    },
  };
}
