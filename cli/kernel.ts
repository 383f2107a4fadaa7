/** `hpcdl kernel install|jupyter`: handed to kernel/install.ts and kernel/jupyter.ts. */
import * as path from 'node:path';
import { delegated, dispatch, PROGRAM, type Command } from './command';

const install = delegated('install the hpcdl Jupyter kernel spec', path.join('kernel', 'install'), 'kernelInstallMain', 'kernel install');
const jupyter = delegated('install the kernel spec, then start Jupyter with it', path.join('kernel', 'jupyter'), 'kernelJupyterMain', 'kernel jupyter');

export const kernelCommand: Command = {
  summary: 'Jupyter kernel (kernel install | kernel jupyter)',
  usage: `Usage: ${PROGRAM} kernel install|jupyter [args...]

  install   ${install.summary}
  jupyter   ${jupyter.summary}`,
  run: (argv) => dispatch(argv, { install, jupyter }, kernelCommand, 'kernel'),
};
