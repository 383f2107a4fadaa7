/** `hpcdl data synth|inspect`: write synthetic event files, describe one. */
import { choice, integer, parse, required, text, UsageError } from './args';
import { dispatch, help, PROGRAM, type Command } from './command';

const library = () => require('../src/data') as typeof import('../src/data');

const synth: Command = {
  summary: 'write synthetic train/val/test HDF5 event files',
  usage: `Usage: ${PROGRAM} data synth --out DIR [--size 64|224] [--events N] [--seed S]

Generates a toy RPV-SUSY-like signal and QCD-like background (jets as energy
clusters over three calorimeter channels) and writes train, val and test files
in the seed's HDF5 layout, with psr from a cut-based selection.

  --out DIR       output directory (required)
  --size 64|224   image size (default 64)
  --events N      total events over the three splits (default 16000)
  --seed S        random seed (default 2018)`,
  async run(argv) {
    const { values } = parse(argv, {
      out: { type: 'string' },
      size: { type: 'string' },
      events: { type: 'string' },
      seed: { type: 'string' },
    });
    if (values.help) return help(this);
    const size = choice(text(values.size) ?? '64', '--size', ['64', '224'] as const)!;
    await library().synthesize({
      outDir: required(text(values.out), '--out'),
      size: Number(size) as 64 | 224,
      events: integer(text(values.events), '--events', 1) ?? 16000,
      seed: integer(text(values.seed), '--seed', 0) ?? 2018,
      log: (s) => console.log(s),
    });
    return 0;
  },
};

const inspect: Command = {
  summary: 'describe an HDF5 event file',
  usage: `Usage: ${PROGRAM} data inspect FILE

Prints the layout, shapes, dtypes, event count, label counts, weight sums and
non-finite (NaN/Inf) counts. Exits 1 when an event file has a problem (a broken
layout such as a label count that differs from the image count, or non-finite
values); other HDF5 files (checkpoints, predictions.h5) are described, exit 0.`,
  async run(argv) {
    const { values, positionals } = parse(argv, {}, true);
    if (values.help) return help(this);
    if (positionals.length !== 1) throw new UsageError(`expected one FILE, got ${positionals.length}`);
    const { inspectFile, formatInspectReport, hasProblems } = library();
    const report = await inspectFile(positionals[0]);
    console.log(formatInspectReport(report));
    return hasProblems(report) ? 1 : 0;
  },
};

export const dataCommand: Command = {
  summary: 'synthesize or inspect event files (data synth | data inspect)',
  usage: `Usage: ${PROGRAM} data <synth|inspect> [options]

  synth     ${synth.summary}
  inspect   ${inspect.summary}`,
  run: (argv) => dispatch(argv, { synth, inspect }, dataCommand, 'data'),
};
