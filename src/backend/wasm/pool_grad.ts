import { backend_util } from '@tensorflow/tfjs-core';
import { KernelArgs, TensorInfo } from './kernel_utils';

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
