/** Which address the controller listens on and advertises to engines. */
import * as os from 'node:os';

/** First non-internal IPv4 address of this machine (what remote engines can reach). */
export function primaryAddress(): string | null {
  const nets = os.networkInterfaces();
  for (const name of Object.keys(nets).sort()) {
    for (const a of nets[name] ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

/** The bind address: explicit --ip, else inside a Slurm job the primary interface, else loopback. */
export function chooseBindAddress(ip: string | undefined, log: (s: string) => void): { bind: string; advertise: string } {
  if (ip && ip !== '*' && ip !== '0.0.0.0') return { bind: ip, advertise: ip };
  if (ip === '*' || ip === '0.0.0.0') {
    const advertise = primaryAddress() ?? '127.0.0.1';
    return { bind: '0.0.0.0', advertise };
  }
  if (process.env.SLURM_JOB_ID) {
    const addr = primaryAddress();
    if (addr) {
      log(`inside Slurm job ${process.env.SLURM_JOB_ID}: binding to ${addr} so engines on other nodes can connect (override with --ip)`);
      return { bind: addr, advertise: addr };
    }
    log('WARNING: inside a Slurm job but no non-loopback IPv4 interface found; binding 127.0.0.1, remote engines will not reach it');
  }
  return { bind: '127.0.0.1', advertise: '127.0.0.1' };
}
