import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { loadAddon } from './addon';
import { conv2d, conv2dBackpropFilter, conv2dBackpropFilterBias, conv2dBackpropInput, fusedConv2d } from './conv';
import { ADAM_UPDATE, CONV2D_BACKPROP_FILTER_BIAS, RELU_GRAD } from '../fused-kernels';
import { adamUpdate, binary, relu, reluGrad, sum, unary } from './eltwise';
import { batchMatMul, fusedMatMul } from './matmul';
import { maxPool, maxPoolGrad } from './pool';
import { Kernel, nativeState, ONEDNN } from './state';

export { ONEDNN } from './state';

/**
 * The onednn backend: the cpu backend's storage (JS Float32Arrays, handed to the addon without
 * a copy) and kernels, with the kernels a CNN training step spends its time in replaced by
 * oneDNN's (native/). Everything not replaced runs the cpu kernel of the same name.
 */
class OnednnBackend extends MathBackendCPU {
  constructor() {
    super();
    // the cpu backend's first write prints an advert for tfjs-node; this backend is the native one
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
}

const NATIVE_KERNELS: Record<string, Kernel> = {
  [tf.Conv2D]: conv2d,
  [tf.FusedConv2D]: fusedConv2d,
  [tf.Conv2DBackpropInput]: conv2dBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2dBackpropFilter,
  [tf.BatchMatMul]: batchMatMul,
  [tf._FusedMatMul]: fusedMatMul,
  [tf.MaxPool]: maxPool,
  [tf.MaxPoolGrad]: maxPoolGrad,
  [tf.Relu]: relu,
  [tf.Sum]: sum,
  [tf.Add]: binary(tf.Add),
  [tf.Sub]: binary(tf.Sub),
  [tf.Multiply]: binary(tf.Multiply),
  [tf.RealDiv]: binary(tf.RealDiv),
  [tf.Step]: unary(tf.Step),
  [tf.Sqrt]: unary(tf.Sqrt),
  [tf.Square]: unary(tf.Square),
  [ADAM_UPDATE]: adamUpdate,
  [RELU_GRAD]: reluGrad,
  [CONV2D_BACKPROP_FILTER_BIAS]: conv2dBackpropFilterBias,
};

/** The kernel names the native backend runs itself (for docs and tests). */
export const ONEDNN_KERNELS = Object.keys(NATIVE_KERNELS);

let registered: string | undefined;

/**
 * Registers the onednn backend with tfjs (once) and returns a detail line, or throws with the
 * reason it cannot be used (addon missing or not loadable).
 */
export function registerOnednnBackend(): string {
  if (registered) return registered;
  const load = loadAddon();
  if (!load.addon) throw new Error(load.reason);
  nativeState.addon = load.addon;
  require('@tensorflow/tfjs-backend-cpu');
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (NATIVE_KERNELS[config.kernelName]) continue;
    tf.registerKernel({ ...config, backendName: ONEDNN });
  }
  for (const [kernelName, kernelFunc] of Object.entries(NATIVE_KERNELS)) {
    tf.registerKernel({ kernelName, backendName: ONEDNN, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  tf.registerBackend(ONEDNN, () => new OnednnBackend(), 0);
  const info = load.addon.info();
  registered = `oneDNN ${info.version}, ${info.isa}, ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  return registered;
}

/** oneDNN's threads (OpenMP) for what follows; the engine's --threads / HPCDL_TRAIN_THREADS. */
export function setOnednnThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`onednn threads must be a positive integer, got ${threads}`);
  nativeState.addon?.setThreads(threads);
}

export type Precision = 'fp32' | 'bf16';

/**
 * Convolutions in bf16 (inputs converted, fp32 outputs and master weights) or fp32. bf16 needs
 * a CPU with AVX512_BF16 or AMX; elsewhere this throws naming what is missing.
 */
export function setOnednnPrecision(precision: Precision): void {
  if (precision === 'bf16') {
    const reason = bf16Unsupported();
    if (reason) throw new Error(`precision bf16: ${reason}`);
  }
  nativeState.bf16 = precision === 'bf16';
}

/** Why bf16 convolutions cannot run here, or '' when they can. */
export function bf16Unsupported(): string {
  const info = nativeState.addon?.info();
  if (!info) return 'needs the onednn backend (hpcdl\'s oneDNN addon), which is not loaded';
  if (!info.bf16) return `needs a CPU with AVX512_BF16 or AMX; oneDNN ${info.version} finds only ${info.isa} here`;
  return '';
}

export function onednnPrecision(): Precision {
  return nativeState.bf16 ? 'bf16' : 'fp32';
}
