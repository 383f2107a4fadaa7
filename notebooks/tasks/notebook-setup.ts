/**
 * What the notebooks share before any training: which config, how big a run
 * (quick mode for tests and first looks), where data and runs go, and
 * synthetic data when none is there yet.
 *
 *   HPCDL_CONFIG=path.json         config (default: hpcdl's configs/local_small.json)
 *   HPCDL_NOTEBOOK_QUICK=1         small data and short training (the tests use it)
 *   HPCDL_NOTEBOOK_DIR=dir         data and runs (default ./hpcdl-notebook-runs next to the notebook)
 *   HPCDL_DATA=dir                 use this data directory instead of synthesising one
 *   HPCDL_EPOCHS=N                 epochs of the driver's training (a batch script's --epochs)
 *   HPCDL_DUMMY_DATA=1             random images, no files (a batch script's --dummy-data)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultConfigPath, loadConfig, overrideConfig, synthesize, type HepConfig } from 'hpcdl';

export interface NotebookSettings {
  configPath: string;
  quick: boolean;
  workDir: string;
  dataDir: string;
  /** synthetic events (train + val + test) when the data has to be made */
  events: number;
  /** epochs of the driver's training */
  epochs: number;
  /** config changes quick mode makes (dotted keys) */
  overrides: Record<string, unknown>;
}

export function notebookSettings(env: NodeJS.ProcessEnv = process.env): NotebookSettings {
  const quick = env.HPCDL_NOTEBOOK_QUICK === '1' || env.HPCDL_NOTEBOOK_QUICK === 'true';
  const configPath = path.resolve(env.HPCDL_CONFIG || defaultConfigPath());
  const workDir = path.resolve(env.HPCDL_NOTEBOOK_DIR || 'hpcdl-notebook-runs');
  const events = quick ? 1000 : 16000;
  const base = loadConfig(configPath, { warn: () => undefined });
  const size = base.input_shape.includes(224) ? 224 : 64;
  return {
    configPath,
    quick,
    workDir,
    dataDir: path.resolve(env.HPCDL_DATA || path.join(workDir, `data-${size}-${events}`)),
    events,
    epochs: env.HPCDL_EPOCHS ? Number(env.HPCDL_EPOCHS) : quick ? 4 : base.num_epochs,
    // The config's trainsamples (what the summary prints) is the synthetic training split: events
    // minus synthesize()'s default 10% validation and 10% test.
    overrides: {
      ...(quick ? { display_interval: 5 } : {}),
      ...(env.HPCDL_DATA ? {} : { trainsamples: events - 2 * Math.round(events * 0.1) }),
    },
  };
}

/** The config with the settings applied (epochs, data and output paths, quick-mode changes). */
export function notebookConfig(s: NotebookSettings, runName: string, warn: (line: string) => void = (l) => console.log(l)): HepConfig {
  const base = loadConfig(s.configPath, { warn: (line) => warn(`Warning: ${line}`) });
  return overrideConfig(base, { ...s.overrides, num_epochs: s.epochs, inputpath: s.dataDir, outputpath: path.join(s.workDir, runName) }, { warn });
}

function hasSplit(dir: string, split: string): boolean {
  return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.includes(split) && /\.(h5|hdf5)$/.test(f));
}

/** Synthesises the data set unless the directory already has train, val and test files. */
export async function ensureData(s: NotebookSettings, config: HepConfig, log: (line: string) => void = (l) => console.log(l)): Promise<string> {
  if (process.env.HPCDL_DUMMY_DATA === '1') {
    log('data: dummy (random images, no files read)');
    return s.dataDir;
  }
  if (['train', 'val', 'test'].every((split) => hasSplit(s.dataDir, split))) {
    log(`data: using ${s.dataDir}`);
    return s.dataDir;
  }
  const size = config.input_shape.includes(224) ? 224 : 64;
  log(`data: synthesising ${s.events} events of ${size}x${size} into ${s.dataDir}`);
  await synthesize({ outDir: s.dataDir, size: size as 64 | 224, events: s.events, seed: 2018, log });
  return s.dataDir;
}
