import { backend_util } from '@tensorflow/tfjs-core';
import { KernelArgs, TensorInfo } from './kernel-utils';

/**
 * MaxPoolGrad in JavaScript over the wasm heap: the stock wasm kernel takes ~2 s for one
 * 128x64x64x128 tensor here; this loop (channels innermost, contiguous in NHWC) is several
 * times faster. The gradient goes to the first maximum of each window in row-major order,
 * as the cpu backend does.
 */
export function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, input } = inputs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const dx = backend.makeOutput(input.shape, 'float32');
  if (isTiling2x2(info)) {
    maxPoolGrad2x2(backend.typedArrayFromHeap(input) as Float32Array, backend.typedArrayFromHeap(dy) as Float32Array,
      backend.typedArrayFromHeap(dx) as Float32Array, info);
    return dx;
  }
  // views only after the last allocation (allocation may grow and detach the heap)
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const out = backend.typedArrayFromHeap(dx) as Float32Array;
  out.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const best = new Float32Array(channels);
  const bestIndex = new Int32Array(channels);
  for (let b = 0; b < batchSize; b++) {
    for (let yo = 0; yo < outHeight; yo++) {
      const yStart = yo * strideHeight - padTop;
      for (let xo = 0; xo < outWidth; xo++) {
        const xStart = xo * strideWidth - padLeft;
        best.fill(Number.NEGATIVE_INFINITY);
        bestIndex.fill(-1);
        for (let p = 0; p < fh; p += dilationHeight) {
          const y = yStart + p;
          if (y < 0 || y >= inHeight) continue;
          for (let q = 0; q < fw; q += dilationWidth) {
            const xx = xStart + q;
            if (xx < 0 || xx >= inWidth) continue;
            const base = ((b * inHeight + y) * inWidth + xx) * channels;
            for (let c = 0; c < channels; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                bestIndex[c] = base + c;
              }
            }
          }
        }
        const gBase = ((b * outHeight + yo) * outWidth + xo) * channels;
        for (let c = 0; c < channels; c++) {
          const idx = bestIndex[c];
          if (idx >= 0) out[idx] += g[gBase + c];
        }
      }
    }
  }
  return dx;
}

/** 2x2 windows, stride 2, no padding inside the input: every window lies fully inside. */
function isTiling2x2(info: backend_util.Conv2DInfo): boolean {
  return info.effectiveFilterHeight === 2 && info.effectiveFilterWidth === 2 && info.strideHeight === 2 &&
    info.strideWidth === 2 && info.padInfo.top === 0 && info.padInfo.left === 0 &&
    2 * info.outHeight <= info.inHeight && 2 * info.outWidth <= info.inWidth;
}

/** The HEP CNN's pooling: four loads, three compares and one store per output element. */
function maxPoolGrad2x2(x: Float32Array, g: Float32Array, out: Float32Array, info: backend_util.Conv2DInfo): void {
  const { batchSize, inHeight: h, inWidth: w, inChannels: channels, outHeight: ho, outWidth: wo } = info;
  if (2 * ho !== h || 2 * wo !== w) out.fill(0); // uncovered last row/column
  const rowStride = w * channels;
  for (let b = 0; b < batchSize; b++) {
    for (let yo = 0; yo < ho; yo++) {
      for (let xo = 0; xo < wo; xo++) {
        const i00 = ((b * h + 2 * yo) * w + 2 * xo) * channels;
        const i01 = i00 + channels;
        const i10 = i00 + rowStride;
        const i11 = i10 + channels;
        const gBase = ((b * ho + yo) * wo + xo) * channels;
        for (let c = 0; c < channels; c++) {
          const v00 = x[i00 + c];
          const v01 = x[i01 + c];
          const v10 = x[i10 + c];
          const v11 = x[i11 + c];
          let best = -Infinity;
          let which = -1;
          if (v00 > best) { best = v00; which = 0; }
          if (v01 > best) { best = v01; which = 1; }
          if (v10 > best) { best = v10; which = 2; }
          if (v11 > best) { which = 3; }
          const grad = g[gBase + c];
          out[i00 + c] = which === 0 ? grad : 0;
          out[i01 + c] = which === 1 ? grad : 0;
          out[i10 + c] = which === 2 ? grad : 0;
          out[i11 + c] = which === 3 ? grad : 0;
        }
      }
    }
  }
}
