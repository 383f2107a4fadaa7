/**
 * Proposal overhead: milliseconds to propose the next trial of a 6-dimensional
 * float space (Hartmann-6) after 100 and 1,000 finished trials, hpcdl's GP, TPE
 * and random sampler against Optuna's ask (TPE, random) in one run.
 *
 *   hpcdl bench hpo-overhead [--sizes 100,1000] [--repeats 9] [--no-peers]
 *
 * The history is loaded without proposing it (hpcdl: journal replay of the
 * finished trials; Optuna: add_trials), then `--repeats` ask+tell rounds are
 * timed around the ask alone; the median is printed. Optuna's ask is given the
 * distributions, so it samples every parameter inside the timed call.
 */
import * as os from 'node:os';
import { Rng } from '../src/data/rng';
import { Study } from '../src/hpo/study';
import type { AlgorithmName, Params } from '../src/hpo/types';
import { FUNCTIONS } from './support/hpo-functions';
import { runOptuna } from './hpo-quality';
import { runIfMain } from './support/bench-main';
import { median } from '../src/hpo/samplers/sampler';
import { benchArgs, positive, positiveList, stringValue } from './support/args';

const H6 = FUNCTIONS[1];

interface OverheadResult { sampler: string; finished: number; ms: number[] }

const USAGE = `Usage: hpcdl bench hpo-overhead [--sizes 100,1000] [--repeats 9] [--no-peers]
  time to propose the next trial after N finished ones: hpcdl's samplers against Optuna's`;

function hpcdlOverhead(algorithm: AlgorithmName, finished: number, repeats: number): OverheadResult {
  const study = new Study({ space: H6.space, algorithm, trials: finished + repeats, seed: 0 });
  const rng = new Rng(finished);
  for (let id = 0; id < finished; id++) {
    const params: Params = Object.fromEntries(Object.keys(H6.space).map((k) => [k, rng.uniform()]));
    study.replay({ type: 'ask', id, params, at: 0 });
    study.replay({ type: 'tell', id, state: 'complete', value: H6.f(params), at: 0 });
  }
  const ms: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const [t] = study.ask(1);
    ms.push(performance.now() - t0);
    study.tell(t.id, { value: H6.f(t.params) });
  }
  return { sampler: `hpcdl-${algorithm}`, finished, ms };
}

export async function main(argv: string[]): Promise<number> {
  const flags = benchArgs(argv, { sizes: { type: 'string', default: '100,1000' }, repeats: { type: 'string', default: '9' }, 'no-peers': { type: 'boolean', default: false } }, USAGE);
  if (!flags) return 0;
  const sizes = positiveList(stringValue(flags, 'sizes'), '--sizes');
  const repeats = positive(stringValue(flags, 'repeats'), '--repeats');
  console.log(`time to propose the next trial of a 6-d float space after N finished trials (median of ${repeats} asks)`);
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const results: OverheadResult[] = [];
  for (const algorithm of ['gp', 'tpe', 'random'] as AlgorithmName[]) {
    // one untimed warm-up so the JIT has compiled the sampler
    hpcdlOverhead(algorithm, Math.min(...sizes), 1);
    for (const n of sizes) results.push(hpcdlOverhead(algorithm, n, repeats));
  }
  if (!flags['no-peers']) {
    const o = runOptuna(['overhead', '--sizes', sizes.join(','), '--repeats', String(repeats), '--samplers', 'tpe,random']);
    if (typeof o === 'string') console.log(`peer: ${o}`);
    else {
      console.log(`peer: optuna ${o.version}`);
      results.push(...(o.results as OverheadResult[]));
    }
  }
  const get = (s: string, n: number) => {
    const r = results.find((x) => x.sampler === s && x.finished === n);
    return r ? median(r.ms) : undefined;
  };
  for (const n of sizes) {
    for (const r of results.filter((x) => x.finished === n)) {
      console.log(`${r.sampler.padEnd(14)} after ${String(n).padStart(5)} trials: ${median(r.ms).toFixed(3).padStart(9)} ms/proposal`);
    }
  }
  for (const n of sizes) {
    for (const [mine, peer] of [['hpcdl-tpe', 'optuna-tpe'], ['hpcdl-random', 'optuna-random'], ['hpcdl-gp', 'optuna-tpe']]) {
      const a = get(mine, n);
      const b = get(peer, n);
      if (a !== undefined && b !== undefined) console.log(`ratio ${mine} / ${peer} after ${n}: ${(a / b).toFixed(2)}x`);
    }
  }
  return 0;
}

runIfMain(module, main);
