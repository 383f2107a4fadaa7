/**
 * `hpcdl search`: a hyperparameter study of the HEP CNN (or a user objective)
 * on a local or running cluster, with a live table on the terminal, the trial
 * CSV and a self-contained HTML report at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SearchSpace } from '../src/hpo/types';
import { Cluster } from '../cluster/client';
import type { SearchOptions, StudyHandle } from '../cluster/search';
import type { HepObjectiveSpec } from '../cluster/search/types';
import { writeStudyReport } from '../cluster/search/html-report';
import { TerminalTable } from '../cluster/search/terminal-table';
import { choice, integer, parse, UsageError } from './args';

const USAGE = `Usage: hpcdl search (--config C | --objective module.ts#export) --space S.json [options]

Runs a hyperparameter study on cluster engines and writes <out>/trials.csv and
<out>/report.html (trial table, best/worst curves, score histogram, parallel
coordinates). Every proposal, report and result goes to <out>/journal.jsonl;
--resume <journal> continues a study (finished trials are not run again).

  --config C           HEP config: the built-in objective trains it per trial
  --objective M#E      or a user objective (params, ctx) => number in module M
  --space S.json       search space: {"name": {"type": "float", "low": .., "high": .., "log": true}, ...}
  --algorithm A        random | grid | gp | tpe | genetic (default gp)
  --trials N           number of trials (default 16; with --resume, the journal's)
  --engines N          start N local engines (default 2; with --engines-per-trial K, 2K)
  --connect ID         use a running cluster (connection file or cluster id) instead;
                       it keeps running when the search ends
  --engines-per-trial K
                       train each trial data-parallel on K engines (cluster.train; the
                       HEP objective, or a module exporting {buildModel, batchSource});
                       the other engines run other trials at the same time
  --resume J           resume the study journaled in J
  --pruner P           none | median | asha (default none)
  --folds K            K-fold cross-validation over the training files
  --metric M           objective key (default val_auc for --config, else value)
  --direction D        max | min (default: max for AUC/accuracy, else min)
  --seed S             sampler seed (default 0)
  --max-parallel N     at most N trial tasks at once
  --epochs N           HEP: epochs per trial
  --max-steps N        HEP: stop each training at this global step
  --data DIR           HEP: data directory (default: the config's inputpath)
  --set K=V            HEP: config override for every trial (repeatable, dotted keys, JSON values)
  --evaluate           re-evaluate the best trial on the test split (ROC in the report)
  --out DIR            output directory (default: hpcdl-search/<time>, or the journal's directory)
  --verbose            print the trials' own output`;

const positiveInt = (v: string | undefined, flag: string): number | undefined => integer(v, flag, 1);

function readSpace(file: string): SearchSpace {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--space ${file} cannot be read`);
  }
  try {
    const space = JSON.parse(text);
    if (!space || typeof space !== 'object' || Array.isArray(space)) throw new Error('not an object of dimensions');
    return space as SearchSpace;
  } catch (err) {
    throw new UsageError(`--space ${file}: ${(err as Error).message}`);
  }
}

/** The trial budget in a journal's header line. */
function journalTrials(file: string): number {
  const first = fs.readFileSync(file, 'utf8').split('\n', 1)[0];
  try {
    const trials = (JSON.parse(first) as { options?: { trials?: unknown } }).options?.trials;
    if (typeof trials === 'number') return trials;
  } catch {
    // reported below
  }
  throw new UsageError(`--resume ${file}: the first line is not a study journal header`);
}

function overridesOf(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq < 1) throw new UsageError(`--set expects key=value, got "${s}"`);
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    out[s.slice(0, eq)] = value;
  }
  return out;
}

export async function searchCommand(argv: string[]): Promise<number> {
  // `set` may repeat: parse returns it as a list
  const values = parse(argv, {
    config: { type: 'string' }, objective: { type: 'string' }, space: { type: 'string' }, algorithm: { type: 'string' },
    trials: { type: 'string' }, engines: { type: 'string' }, 'engines-per-trial': { type: 'string' }, connect: { type: 'string' }, resume: { type: 'string' },
    pruner: { type: 'string' }, folds: { type: 'string' }, metric: { type: 'string' }, direction: { type: 'string' },
    seed: { type: 'string' }, 'max-parallel': { type: 'string' }, epochs: { type: 'string' }, 'max-steps': { type: 'string' },
    data: { type: 'string' }, set: { type: 'string', multiple: true }, evaluate: { type: 'boolean' }, out: { type: 'string' },
    verbose: { type: 'boolean' },
  }).values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  return runSearch(values);
}

async function runSearch(v: Record<string, string | boolean | string[] | undefined>): Promise<number> {
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  if (!str('config') === !str('objective')) throw new UsageError('give exactly one of --config (HEP training) and --objective (module#export)');
  if (!str('space')) throw new UsageError('--space is required');
  if (str('engines') && str('connect')) throw new UsageError('--engines and --connect exclude each other');
  const space = readSpace(str('space')!);
  const resume = str('resume');
  if (resume && !fs.existsSync(resume)) throw new UsageError(`--resume ${resume}: no such journal`);
  const out = path.resolve(str('out') ?? (resume ? path.dirname(resume) : path.join('hpcdl-search', new Date().toISOString().replace(/[:.]/g, '-'))));
  const journal = resume ? path.resolve(resume) : path.join(out, 'journal.jsonl');
  if (!resume && fs.existsSync(journal)) throw new UsageError(`${journal} exists: pass --resume ${journal} to continue that study, or another --out`);
  fs.mkdirSync(out, { recursive: true });

  let objective: SearchOptions['objective'];
  const epochs = positiveInt(str('epochs'), '--epochs');
  if (str('config')) {
    const hep: HepObjectiveSpec = { config: str('config')!, overrides: { ...overridesOf((v.set as string[] | undefined) ?? []), ...(epochs ? { num_epochs: epochs } : {}) } };
    if (str('data')) hep.inputPath = str('data');
    const maxSteps = positiveInt(str('max-steps'), '--max-steps');
    if (maxSteps) hep.maxSteps = maxSteps;
    objective = hep;
  } else {
    objective = str('objective')!;
  }
  const options: SearchOptions = {
    space,
    objective,
    algorithm: choice(str('algorithm'), '--algorithm', ['random', 'grid', 'gp', 'tpe', 'genetic'] as const) ?? 'gp',
    // resuming without --trials keeps the journal's budget
    trials: positiveInt(str('trials'), '--trials') ?? (resume ? journalTrials(resume) : 16),
    pruner: choice(str('pruner'), '--pruner', ['none', 'median', 'asha'] as const) ?? 'none',
    folds: positiveInt(str('folds'), '--folds'),
    metric: str('metric'),
    direction: choice(str('direction'), '--direction', ['min', 'max'] as const),
    seed: str('seed') !== undefined ? Number(str('seed')) : undefined,
    maxParallel: positiveInt(str('max-parallel'), '--max-parallel'),
    engines: positiveInt(str('engines-per-trial'), '--engines-per-trial'),
    journal,
    dir: path.join(out, 'trials'),
    name: path.basename(out),
    display: false,
  };
  if (options.seed !== undefined && !Number.isInteger(options.seed)) throw new UsageError(`--seed must be an integer, got "${str('seed')}"`);

  const output = v.verbose ? 'print' : 'none';
  const engines = positiveInt(str('engines'), '--engines') ?? 2 * (options.engines ?? 1);
  const cluster = str('connect')
    ? await Cluster.connect(str('connect')!, { output, log: () => undefined })
    : await Cluster.start({ engines, output, log: (l) => process.stderr.write(`${l}\n`) });
  const started = Date.now();
  try {
    console.log(`search: ${options.algorithm}, ${options.trials} trials, pruner ${options.pruner}${options.folds ? `, ${options.folds}-fold` : ''}${(options.engines ?? 1) > 1 ? `, ${options.engines} engines per trial` : ''} on ${cluster.engineIds.length} engine(s) of ${cluster.clusterId}; journal ${journal}`);
    const study = cluster.search(options);
    const table = new TerminalTable(study.study, study.metric);
    study.onTrial((e) => table.onEvent(e));
    let trials;
    try {
      trials = await study;
    } finally {
      table.close();
    }
    const csv = path.join(out, 'trials.csv');
    fs.writeFileSync(csv, study.toCsv());
    const evaluation = v.evaluate ? await evaluateBest(study) : undefined;
    const report = path.join(out, 'report.html');
    writeStudyReport(report, {
      title: `hpcdl search — ${path.basename(out)}`,
      trials,
      space: study.study.options.space,
      metric: study.metric,
      direction: study.direction,
      summary: [
        `objective: ${str('config') ? `HEP CNN, ${str('config')}` : str('objective')}; metric ${study.metric} (${study.direction})`,
        `algorithm ${study.study.options.algorithm}, pruner ${JSON.stringify(study.study.options.pruner ?? 'none')}, folds ${study.study.options.folds ?? 1}, seed ${study.study.options.seed ?? 0}`,
        `engines: ${cluster.engineIds.length}; wall time ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `journal: ${journal}`,
      ],
      evaluation,
    });
    const best = study.best();
    console.log(best ? `best: trial ${best.id}, ${study.metric} ${best.value}, ${JSON.stringify(best.params)}` : 'best: no trial completed');
    console.log(`trials: ${csv}`);
    console.log(`report: ${report}`);
    return best ? 0 : 1;
  } finally {
    await cluster.close();
  }
}

async function evaluateBest(study: StudyHandle) {
  const best = study.best();
  if (!best) return undefined;
  const result = await best.evaluate('test');
  console.log(`best trial ${best.id} on the test split: AUC ${result.weighted.auc.toPrecision(4)}, accuracy ${result.weighted.accuracy.toPrecision(4)} (${result.events} events); ROC: ${result.reportPath}`);
  return { trial: best.id, result };
}
