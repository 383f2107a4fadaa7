import './core-gradients';
import { activateCandidate, BACKEND_ORDER, BackendChoice, isBackendChoice } from './select';
import { registerWasmTrainingKernels } from './wasm';

export { BACKEND_ORDER, wasmBinaryDir } from './select';
export type { BackendChoice } from './select';
export { registerWasmTrainingKernels } from './wasm';
export { bf16Unsupported, ONEDNN_KERNELS, onednnPrecision, setOnednnPrecision, setOnednnThreads } from './onednn';
export type { Precision } from './onednn';

export interface BackendInfo {
  /** one of `tensorflow-gpu | tensorflow | onednn | wasm | cpu` */
  name: string;
  /** human-readable detail, e.g. `SIMD, 1 thread` */
  detail: string;
}

export interface InitBackendOptions {
  /** force one backend (overrides HPCDL_BACKEND); fails if it cannot load */
  force?: string;
  /** where the one-line choice goes (default: console.log) */
  log?: (line: string) => void;
  /** where skip reasons go (default: stderr when HPCDL_DEBUG is set, else nowhere) */
  debug?: (line: string) => void;
}

let chosen: Promise<BackendInfo> | undefined;
let chosenName = '';

/**
 * Chooses the compute backend once per thread: tfjs-node-gpu → tfjs-node → onednn (hpcdl's
 * native addon) → wasm (SIMD) → cpu, or the one named by `opts.force` / `HPCDL_BACKEND`. Prints
 * the choice in one line; when the native addon was skipped, that line says why.
 * Later calls return the same choice (a different `force` on a later call is an error).
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const forced = opts.force ?? envForced();
  if (chosen) return chosen.then((info) => assertSameChoice(info, forced));
  chosen = chooseBackend(forced, opts).catch((err: unknown) => {
    chosen = undefined;
    throw err;
  });
  return chosen;
}

/** The name of the backend chosen by initBackend (`''` before it ran). */
export function currentBackend(): string {
  return chosenName;
}

/**
 * Whether a backend computes in float16. None of the TensorFlow.js backends does (tensors are
 * float32, int32, bool, complex64 or string), so `--precision fp16` is refused everywhere.
 */
export function supportsFp16(_backendName: string = currentBackend()): boolean {
  return false;
}

function envForced(): string | undefined {
  const value = process.env.HPCDL_BACKEND?.trim();
  return value ? value : undefined;
}

function assertSameChoice(info: BackendInfo, forced: string | undefined): BackendInfo {
  if (forced && forced !== info.name) {
    throw new Error(`initBackend: backend already initialised as '${info.name}', cannot switch to '${forced}'`);
  }
  return info;
}

async function chooseBackend(forced: string | undefined, opts: InitBackendOptions): Promise<BackendInfo> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const debug = opts.debug ?? defaultDebug();
  let order: readonly BackendChoice[] = BACKEND_ORDER;
  if (forced !== undefined) {
    if (!isBackendChoice(forced)) {
      throw new Error(`HPCDL_BACKEND / force must be one of ${BACKEND_ORDER.join('|')}, got '${forced}'`);
    }
    order = [forced];
  }
  let nativeSkipped = '';
  for (const candidate of order) {
    try {
      const result = await activateCandidate(candidate);
      if (result.tfName === 'wasm') registerWasmTrainingKernels();
      chosenName = candidate;
      log(`hpcdl: backend ${candidate} (${result.detail})${nativeSkipped}`);
      return { name: candidate, detail: result.detail };
    } catch (err) {
      const reason = firstLine(err);
      if (forced !== undefined) throw new Error(`hpcdl: backend '${candidate}' was forced but cannot be used: ${reason}`);
      debug(`hpcdl: backend ${candidate} skipped: ${reason}`);
      // libtensorflow is absent almost everywhere (debug only); the native addon is expected
      if (candidate === 'onednn') nativeSkipped = `; onednn not used: ${reason}`;
    }
  }
  throw new Error(`hpcdl: no usable backend (tried ${order.join(', ')})`);
}

function defaultDebug(): (line: string) => void {
  return process.env.HPCDL_DEBUG ? (line) => process.stderr.write(line + '\n') : () => undefined;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0];
}
