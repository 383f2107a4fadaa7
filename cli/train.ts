/** `hpcdl train`: train the HEP CNN from a config in this process. */
import { choice, integer, parse, required, text, UsageError } from './args';
import { help, PROGRAM, type Command } from './command';
import { interruptToStop } from './interrupt';

export const trainCommand: Command = {
  summary: 'train the HEP CNN from a config',
  usage: `Usage: ${PROGRAM} train --config C [options]

  --config C              JSON config (configs/*.json)
  --dummy-data            random images instead of files (seed: rank*13, 10000/1000 events)
  --epochs N              override num_epochs
  --output DIR            override outputpath (logs/ and models/ are created below it)
  --input DIR             override inputpath
  --mode train|iotest     iotest only reads batches and prints I/O timings
  --precision fp32|bf16|fp16  bf16: convolutions in bf16 on the onednn backend (CPUs with
                          AVX512_BF16 or AMX), fp32 master weights; fp16 needs a backend
                          that computes in half precision
  --unweighted            force every training weight to 1 (the seed's behaviour)
  --weighted              train with normweight (overrides use_weights_in_training)
  --max-steps N           stop at global step N
  --resume                continue from the newest checkpoint in <output>/models
  --fresh                 start from scratch (an earlier run's checkpoints and logs are moved
                          to <output>/previous/<time>/); default: the config's restart key
                          (false: continue from the newest checkpoint, true: start fresh)
  --skip-non-finite       skip and count events whose image or weights hold NaN/Inf
                          (default: refuse them, naming the file and event)
  --rank R --size S       train on shard R of S (default 0 of 1)
  --backend B             force tensorflow-gpu|tensorflow|wasm|cpu (also HPCDL_BACKEND)
  --threads N             threads computing the gradients (default: HPCDL_TRAIN_THREADS,
                          else the cores, at most 8)
  --engines N | --connect CLUSTER, or under srun -n N: data-parallel on N ranks
                          (${PROGRAM} train --engines 2 --help for those options)`,
  async run(argv) {
    // data-parallel runs (cli/train-distributed.ts) are loaded only when asked for: they bring the cluster client
    const distributed = require('./train-distributed') as typeof import('./train-distributed');
    if (distributed.isDistributedTrain(argv)) return distributed.trainDistributedCommand(argv);
    const { values } = parse(argv, {
      config: { type: 'string' },
      'dummy-data': { type: 'boolean' },
      epochs: { type: 'string' },
      output: { type: 'string' },
      input: { type: 'string' },
      mode: { type: 'string' },
      precision: { type: 'string' },
      unweighted: { type: 'boolean' },
      weighted: { type: 'boolean' },
      'max-steps': { type: 'string' },
      resume: { type: 'boolean' },
      fresh: { type: 'boolean' },
      'skip-non-finite': { type: 'boolean' },
      rank: { type: 'string' },
      size: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
    });
    if (values.help) return help(this);
    const v = values;
    if (v.unweighted && v.weighted) throw new UsageError('--weighted and --unweighted contradict each other');
    if (v.resume && v.fresh) throw new UsageError('--resume and --fresh contradict each other');
    const size = integer(text(v.size), '--size', 1) ?? 1;
    const rank = integer(text(v.rank), '--rank', 0) ?? 0;
    if (rank >= size) throw new UsageError(`--rank must be below --size ${size}, got ${rank}`);
    const stop = interruptToStop();
    const { train } = require('../src/train') as typeof import('../src/train');
    const result = await train({
      signal: stop.signal,
      configPath: required(text(v.config), '--config'),
      dummyData: Boolean(v['dummy-data']),
      epochs: integer(text(v.epochs), '--epochs', 1),
      outputDir: text(v.output),
      inputPath: text(v.input),
      mode: choice(text(v.mode), '--mode', ['train', 'iotest'] as const),
      precision: choice(text(v.precision), '--precision', ['fp32', 'bf16', 'fp16'] as const),
      unweighted: Boolean(v.unweighted),
      weighted: Boolean(v.weighted),
      maxSteps: integer(text(v['max-steps']), '--max-steps', 1),
      resume: v.resume ? true : v.fresh ? false : undefined,
      nonFinite: v['skip-non-finite'] ? 'skip' : undefined,
      rank,
      size,
      backend: text(v.backend),
      threads: integer(text(v.threads), '--threads', 1),
      progress: true,
    });
    stop.release();
    return result.mode === 'train' && result.interrupted ? 130 : 0;
  },
};
