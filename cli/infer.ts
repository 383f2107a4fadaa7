/** `hpcdl infer`: evaluate a checkpoint on the test split. */
import { choice, integer, parse, required, text } from './args';
import { help, PROGRAM, type Command } from './command';

export const inferCommand: Command = {
  summary: 'evaluate a checkpoint on the test split (metrics, predictions, ROC report)',
  usage: `Usage: ${PROGRAM} infer --config C --checkpoint P [options]

  --config C                 the config the model was trained with
  --checkpoint P             a ckpt-<step>.json manifest, or a directory (its newest)
  --output DIR               where predictions and plots/roc.html go (default: the checkpoint's run dir)
  --input DIR                override inputpath
  --format csv|h5            predictions file format (default csv)
  --max-steps N              evaluate at most N test batches
  --dummy-data               random test images
  --backend B                force tensorflow-gpu|tensorflow|wasm|cpu`,
  async run(argv) {
    const { values } = parse(argv, {
      config: { type: 'string' },
      checkpoint: { type: 'string' },
      output: { type: 'string' },
      input: { type: 'string' },
      format: { type: 'string' },
      'max-steps': { type: 'string' },
      'dummy-data': { type: 'boolean' },
      backend: { type: 'string' },
    });
    if (values.help) return help(this);
    const v = values;
    const { infer } = require('../src/train') as typeof import('../src/train');
    await infer({
      configPath: required(text(v.config), '--config'),
      checkpoint: required(text(v.checkpoint), '--checkpoint'),
      outputDir: text(v.output),
      inputPath: text(v.input),
      predictionsFormat: choice(text(v.format), '--format', ['csv', 'h5'] as const),
      maxSteps: integer(text(v['max-steps']), '--max-steps', 1),
      dummyData: Boolean(v['dummy-data']),
      backend: text(v.backend),
    });
    return 0;
  },
};
