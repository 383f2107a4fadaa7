import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import {
  conv,
  free,
  KernelArgs,
  releaseView,
  reshaped,
  run,
  TensorInfo,
  transpose,
  view,
  WasmBackend,
} from './kernel-utils';

/**
 * Conv2D gradients for the wasm backend as forward convolutions (XNNPACK), the one fast
 * primitive it has:
 *  - input gradient  = conv(dy, filter flipped in H/W and transposed in/out)
 *  - filter gradient = conv over "batch as channels": x^T [Ci,H,W,B] * dy^T [Ho,Wo,B,Co],
 *    dilated by the stride. Its reduction (over B·Ho·Wo) is far longer than a forward conv's;
 *    XNNPACK does not block it for the cache, so it is split into batch chunks of about
 *    FILTER_GRAD_REDUCTION elements whose partial gradients are summed.
 */

/** target reduction length per chunk (Ho·Wo·batch-chunk), tuned on this machine */
let filterGradReduction = Number(process.env.HPCDL_WASM_FILTER_GRAD_CHUNK ?? 16384);

/** Tuning (and tests): reduction length per chunk, and the fewest images per batch chunk. */
export function setFilterGradChunk(elements: number, minChunkImages = 16): void {
  filterGradReduction = elements;
  minChunkChannels = minChunkImages;
}

function convInfoFor(xShape: number[], filterShape: number[], attrs: Record<string, unknown>): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    backend_util.convertConv2DDataFormat((attrs.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC'),
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

export function conv2dBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
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
function spreadAndPad(backend: WasmBackend, dy: TensorInfo, info: backend_util.Conv2DInfo, padTop: number, padLeft: number): TensorInfo {
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

export function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  assertChannelsLast(attrs, 'Conv2DBackpropFilter');
  const { x, dy } = inputs;
  const info = convInfoFor(x.shape, attrs.filterShape as number[], attrs);
  if (info.inChannels < IM2COL_MAX_CHANNELS) return im2colFilterGrad(backend, x, dy, info);
  if (info.strideHeight !== info.strideWidth) return filterGradUnequalStrides(backend, x, dy, info);
  const stride = info.strideHeight;
  const { top, left } = info.padInfo;
  const padBottom = info.filterHeight + (info.outHeight - 1) * stride - info.inHeight - top;
  const padRight = info.filterWidth + (info.outWidth - 1) * stride - info.inWidth - left;
  // rows/cols past the last window are never read; drop them (XNNPACK has no negative padding)
  const usedH = info.inHeight + Math.min(padBottom, 0);
  const usedW = info.inWidth + Math.min(padRight, 0);
  const cropped = usedH < info.inHeight || usedW < info.inWidth;
  const xUsed = cropped ? run(tf.Slice, backend, { x }, { begin: [0, 0, 0, 0], size: [-1, usedH, usedW, -1] }) : x;
  const pads = [[top, Math.max(padBottom, 0)], [left, Math.max(padRight, 0)]];
  const grad = chunkedBatchAsChannelsConv(backend, xUsed, dy, pads, stride);
  if (cropped) free(backend, xUsed);
  const dW = transpose(backend, grad, [1, 2, 0, 3]);
  free(backend, grad);
  return dW;
}

/**
 * With few input channels (the first layer: 3) batch-as-channels gives XNNPACK a tiny output
 * dimension. Instead: im2col patches P [rows, kh·kw·Ci] built in JS chunk by chunk, and
 * dW^T [Co, kh·kw·Ci] = sum over chunks of dy^T_chunk [Co, rows] · P_chunk as 1x1 convs.
 */
const IM2COL_MAX_CHANNELS = 16;

function im2colFilterGrad(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { outChannels: co, filterHeight: kh, filterWidth: kw, inChannels: ci } = info;
  const patchSize = kh * kw * ci;
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const chunkRows = Math.max(1, Math.min(rows, filterGradReduction));
  // dy^T laid out chunk by chunk: [nChunks][Co][chunkRows] (the last chunk may be shorter)
  const dyT = transposeRowsInChunks(backend, dy, rows, co, chunkRows);
  const patches = backend.makeOutput([chunkRows, patchSize], 'float32');
  let total: TensorInfo | undefined;
  for (let start = 0, index = 0; start < rows; start += chunkRows, index++) {
    const n = Math.min(chunkRows, rows - start);
    fillPatches(backend, x, patches, info, start, n);
    const a = view(backend, dyT, start * co, [1, 1, co, n]);
    const p = view(backend, patches, 0, [1, 1, n, patchSize]);
    const part = conv(backend, a, p, 'valid'); // [1,1,Co,patchSize]
    releaseView(backend, a);
    releaseView(backend, p);
    total = accumulate(backend, total, part);
  }
  free(backend, dyT, patches);
  const dW = transpose(backend, reshaped(total as TensorInfo, [co, kh, kw, ci]), [1, 2, 3, 0]);
  free(backend, total as TensorInfo);
  return dW;
}

/** dy [rows, Co] → [Co, rows] per block of chunkRows rows, blocks stored one after another. */
function transposeRowsInChunks(backend: WasmBackend, dy: TensorInfo, rows: number, co: number, chunkRows: number): TensorInfo {
  if (rows % chunkRows === 0) {
    return transpose(backend, reshaped(dy, [rows / chunkRows, chunkRows, co]), [0, 2, 1]);
  }
  const out = backend.makeOutput([rows * co], 'float32');
  const src = backend.typedArrayFromHeap(dy) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  for (let start = 0; start < rows; start += chunkRows) {
    const n = Math.min(chunkRows, rows - start);
    const base = start * co;
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < co; o++) dst[base + o * n + r] = src[base + r * co + o];
    }
  }
  return out;
}

/** im2col rows [start, start+n) of the forward conv into `patches` ([n, kh·kw·Ci], zero padded). */
function fillPatches(backend: WasmBackend, x: TensorInfo, patches: TensorInfo, info: backend_util.Conv2DInfo, start: number, n: number): void {
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(patches) as Float32Array;
  const { inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const patchSize = kh * kw * ci;
  for (let r = 0; r < n; r++) {
    const row = start + r;
    const b = Math.floor(row / (ho * wo));
    const yo = Math.floor(row / wo) % ho;
    const xo = row % wo;
    let d = r * patchSize;
    for (let p = 0; p < kh; p++) {
      const y = yo * sh + p - top;
      for (let q = 0; q < kw; q++) {
        const xx = xo * sw + q - left;
        if (y < 0 || y >= h || xx < 0 || xx >= w) {
          for (let c = 0; c < ci; c++) dst[d++] = 0;
        } else {
          const s = ((b * h + y) * w + xx) * ci;
          for (let c = 0; c < ci; c++) dst[d++] = src[s + c];
        }
      }
    }
  }
}

function accumulate(backend: WasmBackend, total: TensorInfo | undefined, part: TensorInfo): TensorInfo {
  if (total === undefined) return part;
  const sum = run(tf.Add, backend, { a: total, b: part });
  free(backend, total, part);
  return sum;
}

/** Sum over batch chunks of conv(x_chunk^T, dy_chunk^T): returns [Ci, kh, kw, Co]. */
function chunkedBatchAsChannelsConv(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, pads: number[][], stride: number): TensorInfo {
  const [batch, h, w, ci] = x.shape;
  const [, ho, wo, co] = dy.shape;
  const chunk = batchChunk(batch, ho * wo);
  const n = batch / chunk;
  // one transpose each, laid out so that every chunk is a contiguous block
  const xT = transpose(backend, reshaped(x, [n, chunk, h, w, ci]), [0, 4, 2, 3, 1]); // [n,Ci,H,W,c]
  const dyT = transpose(backend, reshaped(dy, [n, chunk, ho, wo, co]), [0, 2, 3, 1, 4]); // [n,Ho,Wo,c,Co]
  let total: TensorInfo | undefined;
  for (let i = 0; i < n; i++) {
    const xv = view(backend, xT, i * ci * h * w * chunk, [ci, h, w, chunk]);
    const dv = view(backend, dyT, i * ho * wo * chunk * co, [ho, wo, chunk, co]);
    const part = conv(backend, xv, dv, pads, stride);
    releaseView(backend, xv);
    releaseView(backend, dv);
    total = accumulate(backend, total, part);
  }
  free(backend, xT, dyT);
  return total as TensorInfo;
}

/**
 * Largest divisor of `batch` whose chunk keeps the reduction near filterGradReduction, but at
 * least minChunkChannels images (they are the conv's channels: fewer make XNNPACK's inner loop short).
 */
let minChunkChannels = 16;

function batchChunk(batch: number, pixels: number): number {
  const target = Math.max(minChunkChannels, Math.floor(filterGradReduction / pixels));
  for (let c = Math.min(batch, target); c > 1; c--) {
    if (batch % c === 0) return c;
  }
  return 1;
}

/** Rare case (sh ≠ sw): spread dy to stride 1 and reuse the stride-1 formulation. */
function filterGradUnequalStrides(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
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
  const bottom = rows - 1 + info.filterHeight - info.inHeight - top;
  const right = cols - 1 + info.filterWidth - info.inWidth - left;
  const dW = conv2dBackpropFilter({
    inputs: { x, dy: spread },
    backend,
    attrs: {
      strides: 1,
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dataFormat: 'NHWC',
      filterShape: [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels],
    },
  });
  free(backend, spread);
  return dW;
}

