/** A batch of calorimeter events, ready for the model. */
export interface EventBatch {
  /** images, contiguous, in `layout` order */
  images: Float32Array;
  /** [B,C,H,W] for NCHW, [B,H,W,C] for NHWC */
  shape: [number, number, number, number];
  layout: 'NCHW' | 'NHWC';
  label: Int32Array;
  normweight: Float32Array;
  weight: Float32Array;
  /** 1 when the event passes the standard cut-based selection */
  psr: Uint8Array;
}

/**
 * Where batches come from: HDF5 files, dummy data, or a user's own source.
 * One pass over the source is one epoch for this rank.
 */
export interface BatchSource {
  readonly batchSize: number;
  /** events this rank sees per epoch */
  readonly numEvents: number;
  /** next batch of this epoch, or null when the epoch is over */
  next(): Promise<EventBatch | null>;
  /** begin the next epoch (reshuffles when the source shuffles) */
  startEpoch(epoch: number): void;
  /**
   * Optional: hand a batch back once its arrays are no longer used (e.g. after
   * copying them into tensors). The source may then reuse its memory for a
   * later batch, which saves allocating and page-faulting fresh buffers.
   * Never touch a batch after recycling it, and recycle only once every tensor
   * made from it is disposed: tfjs backends may keep a reference to the typed
   * array instead of copying it.
   */
  recycle?(batch: EventBatch): void;
  close(): Promise<void>;
}
