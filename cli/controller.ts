/** `hpcdl controller ...`: handed to cluster/controller/cli.ts, which owns its flags and lifetime. */
import * as path from 'node:path';
import { delegated } from './command';

export const controllerCommand = delegated('run or manage a cluster controller', path.join('cluster', 'controller', 'cli'), 'controllerMain', 'controller');
