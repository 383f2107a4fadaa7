/** Which address the controller listens on and advertises to engines. */
import * as os from 'node:os';

type Interfaces = ReturnType<typeof os.networkInterfaces>;

/** First non-internal IPv4 address of this machine (what remote engines can reach). */
export function primaryAddress(nets: Interfaces = os.networkInterfaces()): string | null {
  for (const name of Object.keys(nets).sort()) {
    for (const a of nets[name] ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

/** The IPv4 address of interface `name` (e.g. the high-speed `ib0`); an error naming the interfaces there are. */
export function interfaceAddress(name: string, nets: Interfaces = os.networkInterfaces()): string {
  const addresses = nets[name];
  if (!addresses) throw new Error(`--interface ${name}: no such network interface here (have: ${Object.keys(nets).sort().join(', ')})`);
  const v4 = addresses.find((a) => a.family === 'IPv4');
  if (!v4) throw new Error(`--interface ${name}: the interface has no IPv4 address`);
  return v4.address;
}

export interface BindChoiceOptions {
  /** bind to this interface's IPv4 address (`--interface ib0`); exclusive with ip */
  interfaceName?: string;
  /** the machine's interfaces (default os.networkInterfaces()) */
  nets?: Interfaces;
  env?: NodeJS.ProcessEnv;
}

/** The bind address: explicit --ip or --interface, else inside a Slurm job the primary interface, else loopback. */
export function chooseBindAddress(ip: string | undefined, log: (s: string) => void, opts: BindChoiceOptions = {}): { bind: string; advertise: string } {
  const nets = opts.nets ?? os.networkInterfaces();
  const env = opts.env ?? process.env;
  if (opts.interfaceName) {
    if (ip) throw new Error('give --ip or --interface, not both');
    const addr = interfaceAddress(opts.interfaceName, nets);
    return { bind: addr, advertise: addr };
  }
  if (ip && ip !== '*' && ip !== '0.0.0.0') return { bind: ip, advertise: ip };
  if (ip === '*' || ip === '0.0.0.0') {
    const advertise = primaryAddress(nets) ?? '127.0.0.1';
    return { bind: '0.0.0.0', advertise };
  }
  if (env.SLURM_JOB_ID) {
    const addr = primaryAddress(nets);
    if (addr) {
      log(`inside Slurm job ${env.SLURM_JOB_ID}: binding to ${addr} so engines on other nodes can connect (override with --ip or --interface)`);
      return { bind: addr, advertise: addr };
    }
    log('WARNING: inside a Slurm job but no non-loopback IPv4 interface found; binding 127.0.0.1, remote engines will not reach it');
  }
  return { bind: '127.0.0.1', advertise: '127.0.0.1' };
}
