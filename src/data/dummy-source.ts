/** The seed's `--dummy_data` mode: random images, no files read. */
import { BaseSource, imageShapeOf } from './batch-source';
import { Rng } from './rng';
import type { Normalised } from './source-options';
import type { EventBatch } from './types';

/** The seed's DummySet: U[0,1) images, random labels, normweight U[0,1) and weight = normweight, psr = label. */
export class DummySource extends BaseSource {
  readonly numEvents: number;
  private rng!: Rng;
  private emitted = 0;

  constructor(o: Normalised) {
    super(o);
    this.numEvents = this.eventsPerEpoch(o.dummyEvents);
  }

  protected resetEpoch(epoch: number): void {
    this.rng = new Rng(this.o.rank * 13, epoch);
    this.emitted = 0;
  }

  protected produce(): EventBatch | null {
    const b = Math.min(this.o.batchSize, this.numEvents - this.emitted);
    if (b <= 0) return null;
    this.emitted += b;
    const [c, h, w] = this.o.imageShape ?? [3, 64, 64];
    const images = this.imageBuffer(b * c * h * w);
    for (let i = 0; i < images.length; i++) images[i] = this.rng.uniform();
    const label = new Int32Array(b);
    const psr = new Uint8Array(b);
    const normweight = new Float32Array(b);
    for (let i = 0; i < b; i++) {
      label[i] = this.rng.int(2);
      psr[i] = label[i];
    }
    for (let i = 0; i < b; i++) normweight[i] = this.rng.uniform();
    return {
      images,
      shape: imageShapeOf(this.o.layout, b, c, h, w),
      layout: this.o.layout,
      label,
      normweight,
      weight: normweight.slice(),
      psr,
    };
  }
}
