import { KernelArgs, TensorInfo } from './kernel-utils';

interface RefCounting {
  incRef(dataId: object): void;
}

/**
 * Identity, and Cast to the same dtype, without a copy (as the cpu backend does): the stock wasm
 * kernels copy, which for ReLU's gradient (`dy * cast(step(x), 'float32')`) moves a whole
 * activation tensor for nothing. Tensors are immutable, so sharing the buffer is safe.
 */
export function identityNoCopy({ inputs, backend }: KernelArgs): TensorInfo {
  const { x } = inputs;
  (backend as unknown as RefCounting).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function castOrShare(original: (args: KernelArgs) => TensorInfo) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs;
    if (x.dtype === args.attrs.dtype && x.dtype !== 'string') return identityNoCopy(args);
    return original(args);
  };
}
