import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { output, sizeOf, values } from './storage';
import { addon, cpuKernel, Kernel, KernelArgs } from './state';

/** [n, ih, iw, c, oh, ow, fh, fw, sh, sw, top, left], or undefined where the cpu kernel must run */
function window(xShape: number[], attrs: Record<string, unknown>): number[] | undefined {
  const c = backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const p = c.padInfo;
  const bottom = (c.outHeight - 1) * c.strideHeight + c.filterHeight - c.inHeight - p.top;
  const right = (c.outWidth - 1) * c.strideWidth + c.filterWidth - c.inWidth - p.left;
  // oneDNN needs every window to hold at least one real pixel
  const windowsTouchInput = p.top < c.filterHeight && p.left < c.filterWidth && bottom < c.filterHeight && right < c.filterWidth;
  if (bottom < 0 || right < 0 || !windowsTouchInput || c.batchSize === 0 || c.outHeight <= 0 || c.outWidth <= 0) return undefined;
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, p.top, p.left];
}

export const maxPool: Kernel = (args: KernelArgs) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const w = x.dtype === 'float32' ? window(x.shape, args.attrs) : undefined;
  if (!w) return cpuKernel(tf.MaxPool)(args);
  const shape = [w[0], w[4], w[5], w[3]];
  const out = new Float32Array(sizeOf(shape));
  addon().maxPool(values(args.backend, x), out, w);
  return output(args.backend, shape, out);
};

export const maxPoolGrad: Kernel = (args: KernelArgs) => {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const w = input.dtype === 'float32' && dy.dtype === 'float32' ? window(input.shape, args.attrs) : undefined;
  if (!w) return cpuKernel(tf.MaxPoolGrad)(args);
  const dx = new Float32Array(sizeOf(input.shape));
  addon().maxPoolGrad(values(args.backend, dy), values(args.backend, input), dx, w);
  return output(args.backend, input.shape, dx);
};
