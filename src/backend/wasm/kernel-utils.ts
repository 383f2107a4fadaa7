import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';

/**
 * Helpers for kernels that compose tfjs-backend-wasm kernels. Inside a kernel no tf ops may be
 * called, so these call the backend's original kernel functions directly and free the
 * intermediates themselves.
 */

export type TensorInfo = tf.TensorInfo;
type DataId = object;

interface WasmTensorData {
  id: number;
  memoryOffset: number;
}

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
export interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
  disposeData(dataId: DataId, force?: boolean): boolean;
  dataIdMap: { get(dataId: DataId): WasmTensorData | undefined; delete(dataId: DataId): boolean };
  wasm: { tfjs: { disposeData(id: number): void } };
}

export interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: WasmBackend;
  attrs: Record<string, unknown>;
}

export type Kernel = (args: KernelArgs) => TensorInfo;

export const WASM = 'wasm';

/** original wasm kernels, captured before any of them is replaced */
const original = new Map<string, Kernel>();

export function captureOriginal(name: string): Kernel {
  const existing = original.get(name);
  if (existing) return existing;
  const config = tf.getKernel(name, WASM);
  if (!config) throw new Error(`wasm backend has no '${name}' kernel; cannot build hpcdl's training kernels`);
  const kernel = config.kernelFunc as unknown as Kernel;
  original.set(name, kernel);
  return kernel;
}

export function originalKernel(name: string): Kernel {
  const kernel = original.get(name);
  if (!kernel) throw new Error(`hpcdl: original wasm kernel '${name}' was not captured`);
  return kernel;
}

export function replaceKernel(name: string, kernelFunc: Kernel): void {
  const previous = tf.getKernel(name, WASM);
  if (previous) tf.unregisterKernel(name, WASM);
  tf.registerKernel({
    kernelName: name,
    backendName: WASM,
    setupFunc: previous?.setupFunc,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  });
}

export function run(name: string, backend: WasmBackend, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
  return originalKernel(name)({ inputs, backend, attrs: attrs as Record<string, unknown> });
}

export function transpose(backend: WasmBackend, x: TensorInfo, perm: number[]): TensorInfo {
  return run(tf.Transpose, backend, { x }, { perm });
}

/** The same data seen with another shape (no copy; the result must not be freed separately). */
export function reshaped(x: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

/** NHWC stride-1 conv through the wasm (XNNPACK) Conv2D kernel; pad is [[top,bottom],[left,right]]. */
export function conv(backend: WasmBackend, x: TensorInfo, filter: TensorInfo, pad: number[][] | 'valid', dilation = 1): TensorInfo {
  const explicit = pad === 'valid' ? 'valid' : [[0, 0], pad[0], pad[1], [0, 0]];
  return run(tf.Conv2D, backend, { x, filter }, {
    strides: [1, 1],
    pad: explicit,
    dataFormat: 'NHWC',
    dilations: [dilation, dilation],
    dimRoundingMode: undefined,
  });
}

export function free(backend: WasmBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * A tensor aliasing `count` float32 elements of `parent` starting at `elementOffset`
 * (no copy). Release it with releaseView, never with free: the memory belongs to the parent.
 */
export function view(backend: WasmBackend, parent: TensorInfo, elementOffset: number, shape: number[]): TensorInfo {
  const data = backend.dataIdMap.get(parent.dataId);
  if (!data) throw new Error('hpcdl: view of a tensor the wasm backend does not hold');
  return backend.makeOutput(shape, parent.dtype, data.memoryOffset + elementOffset * 4);
}

export function releaseView(backend: WasmBackend, v: TensorInfo): void {
  const data = backend.dataIdMap.get(v.dataId);
  if (!data) return;
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(v.dataId);
}

export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
