import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { ONEDNN, registerOnednnBackend, setOnednnThreads } from './onednn';
import { defaultNativeThreads } from './native-threads';

/** Backend names accepted by `HPCDL_BACKEND` / `initBackend({force})`, in preference order. */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'onednn', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_ORDER)[number];

export interface BackendCandidateResult {
  /** the tfjs backend name to pass to tf.setBackend */
  tfName: string;
  detail: string;
}

export function isBackendChoice(name: string): name is BackendChoice {
  return (BACKEND_ORDER as readonly string[]).includes(name);
}

/**
 * Loads one candidate's package and makes it the active tfjs backend.
 * Throws (with the reason) when the candidate cannot be used here.
 */
export async function activateCandidate(choice: BackendChoice): Promise<BackendCandidateResult> {
  switch (choice) {
    case 'tensorflow-gpu':
      return activateNative('@tensorflow/tfjs-node-gpu', 'CUDA');
    case 'tensorflow':
      return activateNative('@tensorflow/tfjs-node', 'CPU');
    case 'onednn':
      return activateOnednn();
    case 'wasm':
      return activateWasm();
    case 'cpu':
      return activateCpu();
  }
}

async function activateNative(pkg: string, flavour: string): Promise<BackendCandidateResult> {
  // Native packages are optionalDependencies: their install downloads libtensorflow,
  // which fails without internet. A failed require is the normal case here.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  require(pkg);
  if (!tf.findBackend('tensorflow')) {
    throw new Error(`${pkg} loaded but registered no 'tensorflow' backend with this copy of tfjs-core (version mismatch?)`);
  }
  await setActive('tensorflow');
  return { tfName: 'tensorflow', detail: `libtensorflow ${flavour} via ${pkg}` };
}

export function wasmBinaryDir(): string {
  const pkgJson = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return path.join(path.dirname(pkgJson), 'dist') + path.sep;
}

async function activateWasm(): Promise<BackendCandidateResult> {
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  // A file path prefix (not a URL): the emscripten loader reads the .wasm with fs in Node,
  // which works the same from dist/ and from tsx.
  wasm.setWasmPaths(wasmBinaryDir());
  await setActive('wasm');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const threadText = threads ? `${wasm.getThreadsCount()} threads` : '1 thread';
  return { tfName: 'wasm', detail: `${simd ? 'SIMD' : 'no SIMD'}, ${threadText}` };
}

async function activateOnednn(): Promise<BackendCandidateResult> {
  const detail = registerOnednnBackend();
  await setActive(ONEDNN);
  const threads = defaultNativeThreads();
  setOnednnThreads(threads);
  return { tfName: ONEDNN, detail: detail.replace(/\d+ threads?$/, `${threads} thread${threads === 1 ? '' : 's'}`) };
}

async function activateCpu(): Promise<BackendCandidateResult> {
  require('@tensorflow/tfjs-backend-cpu');
  await setActive('cpu');
  return { tfName: 'cpu', detail: 'pure JavaScript' };
}

async function setActive(tfName: string): Promise<void> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tf.setBackend('${tfName}') failed to initialise`);
  await tf.ready();
}
