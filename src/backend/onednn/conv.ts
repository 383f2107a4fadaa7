import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { output, sizeOf, values } from './storage';
import { addon, cpuKernel, Kernel, KernelArgs, nativeState } from './state';

type ConvInfo = backend_util.Conv2DInfo;

/** [n, ih, iw, ic, oh, ow, oc, fh, fw, sh, sw, dh, dw, top, bottom, left, right, nchw, bf16], or
 * undefined where oneDNN's output-size rule disagrees with tfjs's (then the cpu kernel runs). */
function geometry(c: ConvInfo, attrs: Record<string, unknown>): number[] | undefined {
  const p = c.padInfo;
  const effH = (c.filterHeight - 1) * c.dilationHeight + 1;
  const effW = (c.filterWidth - 1) * c.dilationWidth + 1;
  // oneDNN derives the output size from the padding: take the bottom/right padding that gives tfjs's.
  const bottom = (c.outHeight - 1) * c.strideHeight + effH - c.inHeight - p.top;
  const right = (c.outWidth - 1) * c.strideWidth + effW - c.inWidth - p.left;
  if (bottom < 0 || right < 0 || p.top < 0 || p.left < 0 || c.batchSize === 0 || c.outHeight <= 0 || c.outWidth <= 0) return undefined;
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth,
    p.top, bottom, p.left, right, c.dataFormat === 'channelsFirst' ? 1 : 0, bf16(attrs) ? 1 : 0];
}

/** bf16 for this call: the kernel's `precision` attribute (hpcdl's conv block), else the process-wide setting */
function bf16(attrs: Record<string, unknown>): boolean {
  return attrs.precision === 'bf16' || (attrs.precision === undefined && nativeState.bf16);
}

function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, unknown>, dilations: unknown = attrs.dilations): ConvInfo {
  const dataFormat = backend_util.convertConv2DDataFormat((attrs.dataFormat as 'NHWC' | 'NCHW') ?? 'NHWC');
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    (dilations ?? 1) as [number, number] | number,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    dataFormat,
  );
}

function floatInputs(...infos: (tf.TensorInfo | undefined)[]): boolean {
  return infos.every((t) => t !== undefined && t.dtype === 'float32');
}

export const conv2d: Kernel = (args: KernelArgs) => {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const g = floatInputs(x, filter) ? geometry(convInfo(x.shape, filter.shape, args.attrs), args.attrs) : undefined;
  if (!g) return cpuKernel(tf.Conv2D)(args);
  return forward(args, x, filter, undefined, g, false);
};

/** FusedConv2D with no or a per-channel bias and linear or ReLU activation; others: the cpu kernel. */
export const fusedConv2d: Kernel = (args: KernelArgs) => {
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const activation = (args.attrs.activation as string | undefined) ?? 'linear';
  const simple = x && filter && !preluActivationWeights && (activation === 'linear' || activation === 'relu');
  const g = simple && floatInputs(x, filter) ? geometry(convInfo(x.shape, filter.shape, args.attrs), args.attrs) : undefined;
  const biasOk = bias === undefined || (bias.dtype === 'float32' && sizeOf(bias.shape) === filter?.shape[3] && bias.shape.length === 1);
  if (!g || !biasOk) return cpuKernel(tf.FusedConv2D)(args);
  return forward(args, x as tf.TensorInfo, filter as tf.TensorInfo, bias, g, activation === 'relu');
};

function forward(args: KernelArgs, x: tf.TensorInfo, filter: tf.TensorInfo, bias: tf.TensorInfo | undefined, g: number[], relu: boolean): tf.TensorInfo {
  const [n, , , , oh, ow, oc] = g;
  const nchw = g[17] === 1;
  const shape = nchw ? [n, oc, oh, ow] : [n, oh, ow, oc];
  const out = new Float32Array(sizeOf(shape));
  const b = args.backend;
  addon().conv2dForward(values(b, x), values(b, filter), bias ? values(b, bias) : null, out, g, relu);
  return output(b, shape, out);
}

export const conv2dBackpropInput: Kernel = (args: KernelArgs) => {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const inputShape = args.attrs.inputShape as number[];
  const g = floatInputs(dy, filter) ? geometry(convInfo(inputShape, filter.shape, args.attrs, 1), args.attrs) : undefined;
  if (!g) return cpuKernel(tf.Conv2DBackpropInput)(args);
  const dx = new Float32Array(sizeOf(inputShape));
  addon().conv2dBackwardData(values(args.backend, dy), values(args.backend, filter), dx, g);
  return output(args.backend, inputShape, dx);
};

export const conv2dBackpropFilter: Kernel = (args: KernelArgs) => {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = args.attrs.filterShape as number[];
  const g = floatInputs(x, dy) ? geometry(convInfo(x.shape, filterShape, args.attrs, 1), args.attrs) : undefined;
  if (!g) return cpuKernel(tf.Conv2DBackpropFilter)(args);
  const dFilter = new Float32Array(sizeOf(filterShape));
  addon().conv2dBackwardWeights(values(args.backend, x), values(args.backend, dy), dFilter, null, g);
  return output(args.backend, filterShape, dFilter);
};

/** HpcdlConv2DBackpropFilterBias: the filter gradient and the bias gradient from one oneDNN call. */
export const conv2dBackpropFilterBias: Kernel = (args: KernelArgs) => {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = args.attrs.filterShape as number[];
  const g = floatInputs(x, dy) ? geometry(convInfo(x.shape, filterShape, args.attrs, 1), args.attrs) : undefined;
  if (!g) throw new Error(`HpcdlConv2DBackpropFilterBias: geometry oneDNN cannot express (x ${x.shape}, filter ${filterShape})`);
  const dFilter = new Float32Array(sizeOf(filterShape));
  const dBias = new Float32Array(filterShape[3]);
  addon().conv2dBackwardWeights(values(args.backend, x), values(args.backend, dy), dFilter, dBias, g);
  return [output(args.backend, filterShape, dFilter), output(args.backend, [filterShape[3]], dBias)];
};
