import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';

/**
 * Training kernels for the wasm backend, built from kernels it runs fast.
 *
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter (so a CNN cannot train) and its
 * Conv2DBackpropInput is ~10x slower than a forward conv. Both are registered here for
 * the 'wasm' backend only, as compositions of the XNNPACK forward conv:
 *  - input gradient  = conv(dy, filter flipped in H/W and transposed in/out)
 *  - filter gradient = conv over "batch as channels": x^T [Ci,H,W,B] * dy^T [Ho,Wo,B,Co]
 * Because these are kernels (not op-level gradients), both tf.conv2d and tf.fused.conv2d
 * gradients use them, and the cpu / native backends keep their own kernels.
 * BatchMatMul with transposeA (used by every matMul gradient) is also wrapped: an explicit
 * transpose followed by a plain matMul is ~8x faster on wasm.
 */

type TensorInfo = tf.TensorInfo;
type DataId = object;

/** The parts of tfjs-backend-wasm's BackendWasm this module uses. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: WasmBackend;
  attrs: Record<string, unknown>;
}

type Kernel = (args: KernelArgs) => TensorInfo;

const BACKEND = 'wasm';
let registered = false;
/** original wasm kernels, captured before we replace any of them */
const original: Record<string, Kernel> = {};

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  captureOriginal(tf.Conv2D);
  captureOriginal(tf.Transpose);
  captureOriginal(tf.Slice);
  captureOriginal(tf.BatchMatMul);
  replaceKernel(tf.Conv2DBackpropInput, conv2dBackpropInput);
  replaceKernel(tf.Conv2DBackpropFilter, conv2dBackpropFilter);
  replaceKernel(tf.BatchMatMul, batchMatMulExplicitTranspose);
  registered = true;
}

function captureOriginal(name: string): void {
  const config = tf.getKernel(name, BACKEND);
  if (!config) throw new Error(`wasm backend has no '${name}' kernel; cannot build training kernels`);
  original[name] = config.kernelFunc as unknown as Kernel;
}

function replaceKernel(name: string, kernelFunc: Kernel): void {
  const previous = tf.getKernel(name, BACKEND);
  if (previous) tf.unregisterKernel(name, BACKEND);
  tf.registerKernel({
    kernelName: name,
    backendName: BACKEND,
    setupFunc: previous?.setupFunc,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  });
}

// ---------------------------------------------------------------------------------------
// small helpers that call wasm kernels directly (we are inside a kernel: no tf ops here)

function run(name: string, backend: WasmBackend, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
  return original[name]({ inputs, backend, attrs: attrs as Record<string, unknown> });
}

function transpose(backend: WasmBackend, x: TensorInfo, perm: number[]): TensorInfo {
  return run(tf.Transpose, backend, { x }, { perm });
}

function conv(
  backend: WasmBackend,
  x: TensorInfo,
  filter: TensorInfo,
  pad: number[][] | 'valid',
  dilation = 1,
): TensorInfo {
  const explicit = pad === 'valid' ? 'valid' : [[0, 0], pad[0], pad[1], [0, 0]];
  return run(tf.Conv2D, backend, { x, filter }, {
    strides: [1, 1],
    pad: explicit,
    dataFormat: 'NHWC',
    dilations: [dilation, dilation],
    dimRoundingMode: undefined,
  });
}

function free(backend: WasmBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function convInfoFor(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    backend_util.convertConv2DDataFormat(attrs.dataFormat as 'NHWC' | 'NCHW'),
  );
}

function assertChannelsLast(attrs: Record<string, unknown>, kernel: string): void {
  const format = attrs.dataFormat as string | undefined;
  if (format !== undefined && format !== 'NHWC') {
    throw new Error(`hpcdl wasm ${kernel}: only NHWC is supported, got dataFormat ${format}`);
  }
}

// ---------------------------------------------------------------------------------------
// Conv2DBackpropInput: dx = conv(dy, flip(filter)^T)

function conv2dBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  assertChannelsLast(attrs, 'Conv2DBackpropInput');
  const { dy, filter } = inputs;
  const info = convInfoFor(attrs.inputShape as number[], filter.shape, attrs);
  const flipped = flipAndSwapFilter(backend, filter);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const padTop = kh - 1 - info.padInfo.top;
  const padLeft = kw - 1 - info.padInfo.left;
  const padBottom = info.inHeight - 1 + info.padInfo.top - (info.outHeight - 1) * sh;
  const padRight = info.inWidth - 1 + info.padInfo.left - (info.outWidth - 1) * sw;
  let dx: TensorInfo;
  if (sh === 1 && sw === 1 && Math.min(padTop, padLeft, padBottom, padRight) >= 0) {
    dx = conv(backend, dy, flipped, [[padTop, padBottom], [padLeft, padRight]]);
  } else {
    const spread = spreadAndPad(backend, dy, info, padTop, padLeft);
    dx = conv(backend, spread, flipped, 'valid');
    free(backend, spread);
  }
  free(backend, flipped);
  return dx;
}

/** [kh,kw,Ci,Co] → [kh,kw,Co,Ci] with both spatial axes reversed (small: done in JS). */
function flipAndSwapFilter(backend: WasmBackend, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  const src = backend.typedArrayFromHeap(filter) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  for (let p = 0; p < kh; p++) {
    for (let q = 0; q < kw; q++) {
      const srcBase = ((kh - 1 - p) * kw + (kw - 1 - q)) * ci * co;
      const dstBase = (p * kw + q) * co * ci;
      for (let c = 0; c < ci; c++) {
        for (let o = 0; o < co; o++) dst[dstBase + o * ci + c] = src[srcBase + c * co + o];
      }
    }
  }
  return out;
}

/**
 * dy [B,Ho,Wo,Co] placed every `stride` pixels into a zero tensor [B, H+kh-1, W+kw-1, Co],
 * starting at (padTop, padLeft): a valid conv of it with the flipped filter gives dx [B,H,W,Ci].
 * Used for strides > 1 (not on the HEP CNN's path).
 */
function spreadAndPad(
  backend: WasmBackend,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
  padTop: number,
  padLeft: number,
): TensorInfo {
  const [batch, outH, outW, co] = dy.shape;
  const rows = info.inHeight + info.filterHeight - 1;
  const cols = info.inWidth + info.filterWidth - 1;
  const out = backend.makeOutput([batch, rows, cols, co], 'float32');
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const src = backend.typedArrayFromHeap(dy) as Float32Array;
  dst.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < outH; y++) {
      const r = padTop + y * info.strideHeight;
      if (r < 0 || r >= rows) continue;
      for (let x = 0; x < outW; x++) {
        const c = padLeft + x * info.strideWidth;
        if (c < 0 || c >= cols) continue;
        const srcOffset = ((b * outH + y) * outW + x) * co;
        dst.set(src.subarray(srcOffset, srcOffset + co), ((b * rows + r) * cols + c) * co);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW[p,q,c,o] = sum_{b,y,x} xpad[b, y*s+p, x*s+q, c] * dy[b,y,x,o]
// = conv of x^T [Ci,H,W,B] (batch Ci, channels B) with dy^T [Ho,Wo,B,Co] dilated by s.

function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  assertChannelsLast(attrs, 'Conv2DBackpropFilter');
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfoFor(x.shape, filterShape, attrs);
  if (info.strideHeight !== info.strideWidth) {
    return filterGradUnequalStrides(backend, x, dy, info);
  }
  const stride = info.strideHeight;
  const { top, left } = info.padInfo;
  const padBottom = info.filterHeight + (info.outHeight - 1) * stride - info.inHeight - top;
  const padRight = info.filterWidth + (info.outWidth - 1) * stride - info.inWidth - left;
  let xT = transpose(backend, x, [3, 1, 2, 0]);
  if (padBottom < 0 || padRight < 0) {
    const cropped = run(tf.Slice, backend, { x: xT }, {
      begin: [0, 0, 0, 0],
      size: [-1, info.inHeight + Math.min(padBottom, 0), info.inWidth + Math.min(padRight, 0), -1],
    });
    free(backend, xT);
    xT = cropped;
  }
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  const pads = [[top, Math.max(padBottom, 0)], [left, Math.max(padRight, 0)]];
  const grad = conv(backend, xT, dyT, pads, stride);
  free(backend, xT, dyT);
  const dW = transpose(backend, grad, [1, 2, 0, 3]);
  free(backend, grad);
  return dW;
}

/** Rare case (sh ≠ sw): spread dy to stride 1 and reuse the stride-1 formulation. */
function filterGradUnequalStrides(
  backend: WasmBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const [batch, outH, outW, co] = dy.shape;
  const rows = (outH - 1) * info.strideHeight + 1;
  const cols = (outW - 1) * info.strideWidth + 1;
  const spread = backend.makeOutput([batch, rows, cols, co], 'float32');
  const dst = backend.typedArrayFromHeap(spread) as Float32Array;
  const src = backend.typedArrayFromHeap(dy) as Float32Array;
  dst.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < outH; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const s = ((b * outH + y) * outW + xx) * co;
        const d = ((b * rows + y * info.strideHeight) * cols + xx * info.strideWidth) * co;
        dst.set(src.subarray(s, s + co), d);
      }
    }
  }
  const { top, left } = info.padInfo;
  const pad = [[0, 0], [top, 0], [left, 0], [0, 0]];
  const dW = conv2dBackpropFilter({
    inputs: { x, dy: spread },
    backend,
    attrs: { strides: 1, pad: explicitStride1Pad(info, rows, cols, pad), dataFormat: 'NHWC', filterShape: [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels] },
  });
  free(backend, spread);
  return dW;
}

/** Explicit padding giving `rows`×`cols` outputs at stride 1 for the same top/left pads. */
function explicitStride1Pad(info: backend_util.Conv2DInfo, rows: number, cols: number, pad: number[][]): number[][] {
  const bottom = rows - 1 + info.filterHeight - info.inHeight - pad[1][0];
  const right = cols - 1 + info.filterWidth - info.inWidth - pad[2][0];
  return [[0, 0], [pad[1][0], bottom], [pad[2][0], right], [0, 0]];
}

// ---------------------------------------------------------------------------------------
// BatchMatMul: transposeA through an explicit transpose (wasm's strided path is slow)

function batchMatMulExplicitTranspose({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  if (!attrs.transposeA) return original[tf.BatchMatMul]({ inputs, backend, attrs });
  const { a, b } = inputs;
  const rank = a.shape.length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  const aT = transpose(backend, a, perm);
  const out = original[tf.BatchMatMul]({ inputs: { a: aT, b }, backend, attrs: { ...attrs, transposeA: false } });
  free(backend, aT);
  return out;
}
