/** `hpcdl engine ...`: handed to cluster/engine/cli.ts, which owns its flags and lifetime. */
import * as path from 'node:path';
import { delegated } from './command';

export const engineCommand = delegated('run a cluster engine', path.join('cluster', 'engine', 'cli'), 'engineMain', 'engine');
