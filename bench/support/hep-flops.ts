import type { HepConfig } from '../../src/config/types';

export interface HepFlops {
  /** forward pass FLOP per image (a multiply-add counts 2) */
  forward: number;
  /** training step FLOP per image: forward, input gradients (not of the first layer) and weight gradients */
  train: number;
}

/**
 * FLOP per image of the seed's HEP CNN (SAME 3×3 convs, each followed by a 2×2/2 max pool;
 * the 224 variant adds a conv at the last resolution and global average pooling before FC 2).
 * Pools, ReLU and the loss are left out (a few % of the convs).
 */
export function hepFlops(config: HepConfig): HepFlops {
  const [size, , channels] = config.input_shape;
  const filters = config.conv_params.num_filters;
  const k = config.conv_params.filter_size;
  let side = size;
  let cin = channels;
  let forward = 0;
  let train = 0;
  const layer = (flop: number, first: boolean) => {
    forward += flop;
    train += flop * (first ? 2 : 3);
  };
  for (let i = 0; i < config.num_layers; i++) {
    layer(2 * side * side * cin * filters * k * k, i === 0);
    cin = filters;
    side = Math.floor(side / 2);
  }
  if (config.scaling_improvements) {
    layer(2 * side * side * filters * filters * k * k, false);
    layer(2 * filters * 2, false);
  } else {
    const units = config.num_fc_units ?? 512;
    layer(2 * side * side * filters * units, false);
    layer(2 * units * 2, false);
  }
  return { forward, train };
}
