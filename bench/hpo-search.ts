/**
 * cluster.search on 2 local engines, in one run:
 *
 *  1. utilisation: a 32-trial study whose trials sleep 0.3–2 s (uneven
 *     lengths; bench/support/sleeper-objective.ts); the fraction
 *     of engine-time busy, beside Optuna 3.1 running the same durations with
 *     study.optimize(n_jobs=2). Two figures each: over the whole study, and
 *     while trials were still waiting to start (the part the driver controls;
 *     the drain at the end leaves an engine idle whatever the driver does).
 *  2. pruning, on the HEP toy (synthetic data, local_small): engine-seconds
 *     until some trial first reports validation AUC ≥ each target (--targets),
 *     ASHA against no pruner (same sampler and seed); the ratio at the highest
 *     target both reach.
 *  3. the best configuration found (highest validation AUC over both
 *     studies) against the default config, both re-evaluated on the test
 *     split (validation and test AUC of both).
 *
 *   hpcdl bench hpo-search [--trials 32] [--hep-trials 10] [--events 3000] [--epochs 3] [--targets 0.9,0.93,0.95,0.96] [--no-hep] [--no-peers]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../cluster/client';
import type { StudyHandle } from '../cluster/search';
import { defaultConfigPath, synthesize } from '../src';
import { benchArgs, positive, stringValue } from './support/args';
import { UsageError } from '../src/command-line';


interface Span { start: number; end: number }

/** busy fraction overall (first start → last end) and while trials were waiting (first start → last start) */
function utilisation(spans: Span[], engines: number): { overall: number; queued: number; wall: number } {
  const first = Math.min(...spans.map((s) => s.start));
  const last = Math.max(...spans.map((s) => s.end));
  const lastStart = Math.max(...spans.map((s) => s.start));
  const busy = spans.reduce((a, s) => a + (s.end - s.start), 0);
  const busyBefore = spans.reduce((a, s) => a + Math.max(0, Math.min(s.end, lastStart) - s.start), 0);
  return { overall: busy / (engines * (last - first)), queued: busyBefore / (engines * (lastStart - first)), wall: (last - first) / 1000 };
}

async function utilisationSection(cluster: Cluster, trials: number, peers: boolean, dir: string): Promise<void> {
  const study = cluster.search({
    space: { seconds: { type: 'float', low: 0.3, high: 2.0 } },
    objective: { module: path.join(__dirname, 'support', `sleeper-objective${path.extname(__filename)}`), export: 'sleeper' },
    algorithm: 'random',
    trials,
    seed: 42,
    direction: 'max',
    dir: path.join(dir, 'utilisation'),
    display: false,
  });
  const done = await study;
  const spans = study.spans.filter((s) => s.outcome === 'ok');
  const u = utilisation(spans, 2);
  const work = done.reduce((a, t) => a + (t.value ?? 0), 0);
  console.log(`utilisation, ${trials} trials of 0.3–2 s (${work.toFixed(1)} s of work) on 2 engines:`);
  console.log(`  hpcdl cluster.search: busy ${(100 * u.overall).toFixed(1)}% overall, ${(100 * u.queued).toFixed(1)}% while trials were waiting; ${u.wall.toFixed(1)} s`);
  if (!peers) return;
  // the same durations, in trial order
  const durations = done.map((t) => t.params.seconds as number);
  // bench/peers from source; from dist/bench, the checkout's bench/peers
  const script = [path.join(__dirname, 'peers', 'optuna_utilisation.py'), path.join(__dirname, '..', '..', 'bench', 'peers', 'optuna_utilisation.py')].find((f) => fs.existsSync(f))!;
  const r = spawnSync('/usr/bin/python3', [script, JSON.stringify(durations), '2'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`  optuna: failed (${r.stderr.trim().split('\n').pop()})`);
    return;
  }
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { version: string; busy_fraction: number; wall_s: number };
  console.log(`  optuna ${o.version} optimize(n_jobs=2): busy ${(100 * o.busy_fraction).toFixed(1)}% overall; ${o.wall_s.toFixed(1)} s`);
  console.log(`  ratio hpcdl/optuna (overall busy fraction): ${(u.overall / o.busy_fraction).toFixed(3)}`);
}

/** engine-seconds spent (all tasks, overlapped with [t0, t]) until the first report of val_auc ≥ target */
function engineSecondsToTarget(study: StudyHandle, hits: { at: number; auc: number }[], target: number): number | null {
  const hit = hits.find((h) => h.auc >= target);
  const spans = study.spans;
  if (!hit || spans.length === 0) return null;
  const t0 = Math.min(...spans.map((s) => s.start));
  // spans still open at the hit count up to the hit
  return spans.reduce((a, s) => a + Math.max(0, Math.min(s.end, hit.at) - Math.max(s.start, t0)), 0) / 1000;
}

const USAGE = `Usage: hpcdl bench hpo-search [--trials 32] [--no-peers] [--no-hep] [--events 3000] [--epochs 3] [--hep-trials 10] [--targets 0.9,0.93,0.95,0.96]
  cluster.search on 2 engines: engine utilisation against Optuna, ASHA against no pruner on the HEP toy`;

const FLAGS = {
  trials: { type: 'string', default: '32' },
  'no-peers': { type: 'boolean', default: false },
  'no-hep': { type: 'boolean', default: false },
  events: { type: 'string', default: '3000' },
  epochs: { type: 'string', default: '3' },
  'hep-trials': { type: 'string', default: '10' },
  targets: { type: 'string', default: '0.9,0.93,0.95,0.96' },
} as const;

interface HepOptions { events: number; epochs: number; trials: number; targets: number[] }

async function hepSection(cluster: Cluster, { events, epochs, trials, targets }: HepOptions, dir: string): Promise<void> {
  const data = path.join(dir, 'data');
  await synthesize({ outDir: data, size: 64, events, seed: 2018, log: () => undefined });
  const space = {
    learning_rate: { type: 'float' as const, low: 3e-4, high: 1e-2, log: true },
    num_filters: { type: 'categorical' as const, choices: [8, 16, 32] },
    num_fc_units: { type: 'categorical' as const, choices: [32, 64, 128] },
    dropout: { type: 'float' as const, low: 0, high: 0.5 },
  };
  const objective = { config: defaultConfigPath(), inputPath: data, overrides: { num_epochs: epochs, train_batch_size: 32, display_interval: 1000 } };
  const results: Record<string, { seconds: (number | null)[]; wall: number; study: StudyHandle }> = {};
  for (const pruner of ['none', 'asha'] as const) {
    const hits: { at: number; auc: number }[] = [];
    const started = Date.now();
    const study = cluster.search({ space, objective, algorithm: 'random', trials, seed: 9, pruner: pruner === 'asha' ? { name: 'asha', minResource: 1, eta: 3, maxResource: epochs } : 'none', dir: path.join(dir, `hep-${pruner}`), display: false, chance: null });
    study.onTrial((e) => {
      if (e.kind === 'report' && typeof e.data?.val_auc === 'number') hits.push({ at: Date.now(), auc: e.data.val_auc });
    });
    const done = await study;
    const engineSeconds = study.spans.reduce((a, s) => a + (s.end - s.start), 0) / 1000;
    results[pruner] = { seconds: targets.map((t) => engineSecondsToTarget(study, hits, t)), wall: (Date.now() - started) / 1000, study };
    const counts = ['complete', 'pruned', 'failed', 'failed_to_converge'].map((s) => `${done.filter((t) => t.state === s).length} ${s}`).join(', ');
    console.log(`  pruner ${pruner}: ${counts}; ${engineSeconds.toFixed(0)} engine-s in all, ${results[pruner].wall.toFixed(0)} s wall; best val_auc ${study.best()?.value?.toFixed(4) ?? '—'}; engine-s to val_auc ≥ ${targets.map((t, i) => `${t}: ${results[pruner].seconds[i]?.toFixed(1) ?? 'not reached'}`).join(', ')}`);
  }
  const both = targets.map((t, i) => ({ t, a: results.asha.seconds[i], n: results.none.seconds[i] })).filter((x) => x.a !== null && x.n !== null);
  const top = both[both.length - 1];
  console.log(`  ratio ASHA/none (engine-seconds to val_auc ≥ ${top ? top.t : '?'}): ${top ? (top.a! / top.n!).toFixed(3) : 'n/a (no target reached by both)'}`);

  // selected on validation AUC only; the test split is looked at once per model
  const candidates = (['none', 'asha'] as const).map((p) => ({ p, study: results[p].study, best: results[p].study.best() })).filter((c) => c.best);
  if (candidates.length === 0) return;
  const chosen = candidates.reduce((a, b) => (b.best!.value! > a.best!.value! ? b : a));
  const best = chosen.best!;
  const bestTest = await best.evaluate('test');
  const base = await chosen.study.baseline();
  const baseTest = await base.evaluate('test');
  console.log(`best configuration (study ${chosen.p}, trial ${best.id}): ${JSON.stringify(best.params)}`);
  console.log(`  validation AUC: best ${best.value!.toFixed(4)}, default config ${base.value.toFixed(4)}`);
  console.log(`  test AUC (${bestTest.events} events): best ${bestTest.weighted.auc.toFixed(4)}, default config ${baseTest.weighted.auc.toFixed(4)}: ${bestTest.weighted.auc > baseTest.weighted.auc ? 'the search beats the default' : 'the default is not beaten'}`);
}

export async function main(argv: string[]): Promise<number> {
  const flags = benchArgs(argv, FLAGS, USAGE);
  if (!flags) return 0;
  const raw = stringValue(flags, 'targets');
  const targets = raw.split(',').map(Number);
  if (targets.some((t) => !(t > 0 && t < 1))) throw new UsageError(`--targets needs AUC values in (0, 1), got ${JSON.stringify(raw)}`);
  const hep: HepOptions = {
    events: positive(stringValue(flags, 'events'), '--events'),
    epochs: positive(stringValue(flags, 'epochs'), '--epochs'),
    trials: positive(stringValue(flags, 'hep-trials'), '--hep-trials'),
    targets,
  };
  const trials = positive(stringValue(flags, 'trials'), '--trials');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-bench-hpo-'));
  const cluster = await Cluster.start({ engines: 2, output: 'none', log: () => undefined });
  try {
    console.log(`hpo-search bench on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), 2 engines`);
    await utilisationSection(cluster, trials, !flags['no-peers'], dir);
    if (!flags['no-hep']) {
      console.log('pruning on the HEP toy (random sampler, same seed):');
      await hepSection(cluster, hep, dir);
    }
    return 0;
  } finally {
    await cluster.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
