/**
 * Search quality: median simple regret after 20 and 50 evaluations on
 * Branin, Hartmann-6 and noisy Hartmann-3 (σ 0.1) over 20 seeds, for hpcdl's
 * GP and TPE and Optuna's TPE and random sampler (bench/peers/optuna_hpo.py),
 * in one run; a two-sided Mann-Whitney U test of hpcdl GP against Optuna TPE
 * per function and budget.
 *
 *   hpcdl bench hpo-quality [--seeds 20] [--at 20,50] [--functions branin,hartmann6,noisy-hartmann3]
 *                           [--samplers gp,tpe] [--no-peers]
 *
 * Simple regret = noise-free value at the best observed point - known minimum.
 * Evaluations are sequential (ask 1, tell 1), as Optuna's loop.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../src/data/rng';
import { Study } from '../src/hpo/study';
import type { AlgorithmName } from '../src/hpo/types';
import { FUNCTIONS, type TestFunction } from './support/hpo-functions';
import { mannWhitneyU } from './support/mann-whitney';
import { packageRoot } from '../src/package-info';
import { runIfMain } from './support/bench-main';
import { median } from '../src/hpo/samplers/sampler';
import { benchArgs, positive, positiveList, stringValue } from './support/args';
import { UsageError } from '../src/command-line';

export interface QualityResult {
  function: string;
  sampler: string;
  /** regrets per checkpoint ("20", "50"), one per seed */
  regrets: Record<string, number[]>;
  seconds: number;
}

const USAGE = `Usage: hpcdl bench hpo-quality [--seeds 20] [--at 20,50] [--functions NAMES] [--samplers gp,tpe] [--no-peers]
  median simple regret of hpcdl's samplers against Optuna's on standard test functions`;

/** runs /usr/bin/python3 bench/peers/optuna_hpo.py and returns its JSON line, or why not */
export function runOptuna(args: string[]): { version: string; results: unknown[] } | string {
  const python = '/usr/bin/python3';
  if (!fs.existsSync(python)) return `${python} not found`;
  const script = path.join(packageRoot(), 'bench', 'peers', 'optuna_hpo.py');
  const r = spawnSync(python, [script, ...args], { encoding: 'utf8', timeout: 30 * 60 * 1000, cwd: os.tmpdir(), maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return `optuna_hpo.py failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
  return JSON.parse(line);
}

function runHpcdl(fn: TestFunction, algorithm: AlgorithmName, seeds: number, at: number[]): QualityResult {
  const t0 = performance.now();
  const regrets: Record<string, number[]> = Object.fromEntries(at.map((a) => [String(a), []]));
  for (let seed = 0; seed < seeds; seed++) {
    const study = new Study({ space: fn.space, algorithm, trials: at[at.length - 1], seed });
    // the noise stream is separate from the sampler's
    const noise = new Rng(seed, 7919);
    let bestObserved = Infinity;
    let bestTrue = Infinity;
    for (let i = 0; i < at[at.length - 1]; i++) {
      const [t] = study.ask(1);
      const observed = fn.observe(t.params, noise);
      study.tell(t.id, { value: observed });
      if (observed < bestObserved) {
        bestObserved = observed;
        bestTrue = fn.f(t.params);
      }
      if (at.includes(i + 1)) regrets[String(i + 1)].push(bestTrue - fn.minimum);
    }
  }
  return { function: fn.name, sampler: `hpcdl-${algorithm}`, regrets, seconds: (performance.now() - t0) / 1000 };
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(1) : v >= 0.01 ? v.toFixed(4) : v.toExponential(2);
}

export async function main(argv: string[]): Promise<number> {
  const flags = benchArgs(argv, {
    seeds: { type: 'string', default: '20' },
    at: { type: 'string', default: '20,50' },
    functions: { type: 'string', default: FUNCTIONS.map((f) => f.name).join(',') },
    samplers: { type: 'string', default: 'gp,tpe' },
    'no-peers': { type: 'boolean', default: false },
  }, USAGE);
  if (!flags) return 0;
  const seeds = positive(stringValue(flags, 'seeds'), '--seeds');
  const at = positiveList(stringValue(flags, 'at'), '--at').sort((a, b) => a - b);
  const names = stringValue(flags, 'functions').split(',');
  const samplers = stringValue(flags, 'samplers').split(',') as AlgorithmName[];
  const fns = names.map((n) => {
    const f = FUNCTIONS.find((x) => x.name === n);
    if (!f) throw new UsageError(`--functions: unknown function "${n}" (known: ${FUNCTIONS.map((x) => x.name).join(', ')})`);
    return f;
  });
  console.log(`median simple regret after ${at.join(' and ')} evaluations over ${seeds} seeds (sequential ask/tell; noisy-hartmann3 has N(0, 0.1) noise)`);
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const results: QualityResult[] = [];
  for (const fn of fns) for (const s of samplers) results.push(runHpcdl(fn, s, seeds, at));
  let peerNote = '';
  if (!flags['no-peers']) {
    const o = runOptuna(['quality', '--seeds', String(seeds), '--at', at.join(','), '--functions', names.join(','), '--samplers', 'tpe,random']);
    if (typeof o === 'string') peerNote = o;
    else {
      peerNote = `optuna ${o.version}`;
      results.push(...(o.results as QualityResult[]));
    }
  }
  const head = `${'function'.padEnd(16)} ${'sampler'.padEnd(14)} ${at.map((a) => `@${a}`.padStart(10)).join(' ')}   seconds`;
  console.log(head);
  for (const fn of fns) {
    for (const r of results.filter((x) => x.function === fn.name)) {
      console.log(`${fn.name.padEnd(16)} ${r.sampler.padEnd(14)} ${at.map((a) => fmt(median(r.regrets[String(a)])).padStart(10)).join(' ')}   ${r.seconds.toFixed(1)}`);
    }
  }
  if (peerNote) console.log(`peer: ${peerNote}`);
  const verdicts: { fn: string; worse: boolean; better: boolean }[] = [];
  for (const fn of fns) {
    const gp = results.find((r) => r.function === fn.name && r.sampler === 'hpcdl-gp');
    const tpe = results.find((r) => r.function === fn.name && r.sampler === 'optuna-tpe');
    if (!gp || !tpe) continue;
    let worse = false;
    let better = false;
    for (const a of at) {
      const g = gp.regrets[String(a)];
      const t = tpe.regrets[String(a)];
      const mw = mannWhitneyU(g, t);
      const mg = median(g);
      const mt = median(t);
      const significant = mw.p < 0.05;
      if (significant && mg < mt) better = true;
      if (significant && mg > mt) worse = true;
      const word = !significant ? 'no significant difference' : mg < mt ? 'hpcdl GP better' : 'hpcdl GP worse';
      console.log(`mann-whitney ${fn.name} @${a}: hpcdl-gp ${fmt(mg)} vs optuna-tpe ${fmt(mt)}, ratio optuna-tpe/hpcdl-gp ${(mt / Math.max(mg, 1e-12)).toFixed(2)}x, U ${mw.u}, p ${mw.p.toExponential(2)}: ${word}`);
    }
    verdicts.push({ fn: fn.name, worse, better });
  }
  if (verdicts.length > 0) {
    const noWorse = verdicts.every((v) => !v.worse);
    const betterOn = verdicts.filter((v) => v.better).map((v) => v.fn);
    console.log(`target (GP no worse than Optuna TPE on every function, p<0.05 better on one): no worse on every function: ${noWorse ? 'yes' : `NO (${verdicts.filter((v) => v.worse).map((v) => v.fn).join(', ')})`}; better on: ${betterOn.length ? betterOn.join(', ') : 'none'} → ${noWorse && betterOn.length > 0 ? 'MET' : 'MISSED'}`);
  }
  return 0;
}

runIfMain(module, main);
