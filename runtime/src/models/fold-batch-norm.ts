// Folds each BatchNormalization into the convolution before it. tfjs runs a BatchNormalization layer on batch
// statistics whenever the model is called with training=true, even when the layer is frozen (Keras 2 switches a
// frozen one to inference mode; tfjs does not), and then updates its moving averages on the worker only. Folded,
// the network computes exactly the inference-mode function and has no moving statistics left to drift.
import type { Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../tf/tf.ts';

/** One layer of a Keras functional topology (`config.layers[i]`). */
export interface LayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, unknown>][][];
}

const CONVOLUTIONS = new Set(['Conv2D', 'DepthwiseConv2D']);

/**
 * Returns `layers` with every BatchNormalization that follows a bias-free Conv2D/DepthwiseConv2D removed, the
 * convolution given its scale folded into the kernel and its shift as a bias, and `weights` to match (new
 * tensors; the caller disposes both maps). Other layers pass through unchanged.
 */
export function foldBatchNorm(
  tf: Tf,
  layers: readonly LayerJson[],
  weights: Readonly<Record<string, Tensor>>,
): { layers: LayerJson[]; weights: Record<string, Tensor> } {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const renamed = new Map<string, string>(); // folded BN name → its convolution
  const out: Record<string, Tensor> = {};
  const folded = new Set<string>();
  for (const layer of layers) {
    if (layer.class_name !== 'BatchNormalization') continue;
    const inbound = layer.inbound_nodes[0]?.[0]?.[0];
    const conv = inbound === undefined ? undefined : byName.get(inbound);
    if (!conv || !CONVOLUTIONS.has(conv.class_name) || conv.config.use_bias !== false) continue;
    const depthwise = conv.class_name === 'DepthwiseConv2D';
    const kernelName = `${conv.name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`;
    const [kernel, bias] = tf.tidy(() => {
      const w = (n: string) => weights[`${layer.name}/${n}`]!;
      const epsilon = (layer.config.epsilon as number | undefined) ?? 1e-3;
      const scale = tf.div(w('gamma'), tf.sqrt(tf.add(w('moving_variance'), epsilon)));
      const k = weights[kernelName]!;
      // A depthwise kernel is [h, w, channels, 1]: the output channel is axis 2; a Conv2D's is axis 3.
      const broadcast = depthwise ? scale.reshape([1, 1, -1, 1]) : scale.reshape([1, 1, 1, -1]);
      return [tf.mul(k, broadcast), tf.sub(w('beta'), tf.mul(w('moving_mean'), scale))];
    });
    out[kernelName] = kernel;
    out[`${conv.name}/bias`] = bias;
    renamed.set(layer.name, conv.name);
    folded.add(conv.name);
  }
  const result: LayerJson[] = [];
  for (const layer of layers) {
    if (renamed.has(layer.name)) continue;
    const copy = structuredClone(layer);
    if (folded.has(copy.name)) copy.config.use_bias = true;
    for (const node of copy.inbound_nodes) for (const edge of node) edge[0] = renamed.get(edge[0]) ?? edge[0];
    result.push(copy);
  }
  for (const [name, t] of Object.entries(weights)) {
    const owner = name.split('/')[0]!;
    if (!renamed.has(owner) && !(name in out)) out[name] = tf.clone(t);
  }
  return { layers: result, weights: out };
}
