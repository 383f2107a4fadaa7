import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { OnednnAddon } from './addon';

export const ONEDNN = 'onednn';

export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: MathBackendCPU;
  attrs: Record<string, unknown>;
}
export type Kernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** What the native kernels share: the addon and the convolution precision. */
export const nativeState: { addon?: OnednnAddon; bf16: boolean } = { bf16: false };

export function addon(): OnednnAddon {
  if (!nativeState.addon) throw new Error('onednn backend used before its addon was loaded');
  return nativeState.addon;
}

/** The cpu backend's kernel of that name, for the cases the native kernel does not cover. */
export function cpuKernel(name: string): Kernel {
  const config = tf.getKernel(name, 'cpu');
  if (!config) throw new Error(`cpu backend has no '${name}' kernel`);
  return config.kernelFunc as unknown as Kernel;
}
