/**
 * tfjs-core's CommonJS bundle ships no gradient definitions (they are registered by the
 * `@tensorflow/tfjs` union package, which hpcdl does not depend on). tfjs-layers' Node
 * bundle inlines and registers all of them into tfjs's global registry when it loads,
 * so loading it once makes tf.grad / tf.variableGrads work for every op.
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
require('@tensorflow/tfjs-layers');

export const CORE_GRADIENTS_REGISTERED = true;
