// Trains MesoNet's dense head on frozen convolution features with TensorFlow.js (pure JavaScript CPU backend), as
// the MesoNet code trains it in Keras: Dropout(0.5) -> Dense 16 -> LeakyReLU(0.1) -> Dropout(0.5) -> Dense 1 ->
// sigmoid, binary cross-entropy, Adam. It starts from the parent model's head. Every random draw (batch order,
// dropout masks) comes from the seed, so the same seed and data give the same weights. Runs in trainWorker.ts.
import * as tf from "@tensorflow/tfjs";

import { HEAD_UNITS, type DenseHead } from "../../models/mesonetHead.js";
import { rocAuc } from "../evaluate/metrics.js";
import { randomInt, seededRandom, shuffled } from "./seededRandom.js";

/** MesoNet's training settings (Afchar et al.'s code): Adam at 1e-3, dropout 0.5, LeakyReLU 0.1. */
export const HEAD_TRAINING = { learningRate: 1e-3, batchSize: 32, dropout: 0.5, leakyReluAlpha: 0.1 } as const;

export interface HeadTrainingInput {
  /** Row-major [n, dims] features; labels 1 = real, 0 = fake (the model's output is P(real)). */
  features: Float32Array;
  labels: Uint8Array;
  heldOutFeatures: Float32Array;
  heldOutLabels: Uint8Array;
  dims: number;
  /** The head to start from (the parent model's). */
  head: DenseHead;
  epochs: number;
  seed: number;
}

export interface EpochProgress {
  epoch: number;
  epochs: number;
  /** Mean training loss over the epoch (class-balanced binary cross-entropy, with dropout). */
  loss: number;
  /** Held-out AUC (fake vs real by P(fake)) after the epoch. */
  heldOutAuc: number;
}

export interface HeadTrainingResult {
  head: DenseHead;
  history: EpochProgress[];
  /** The trained head's P(real) for each held-out row (the written model must give the same). */
  heldOutReal: Float32Array;
}

/** P(real) of each row of `features` through `head`, without dropout. */
function predictReal(features: tf.Tensor2D, w: tf.Variable[]): Float32Array {
  return tf.tidy(() => {
    const [w1, b1, w2, b2] = w;
    const hidden = tf.leakyRelu(tf.add(tf.matMul(features, w1!), b1!), HEAD_TRAINING.leakyReluAlpha);
    return tf.sigmoid(tf.add(tf.matMul(hidden, w2!), b2!)).dataSync() as Float32Array;
  });
}

/** Held-out AUC of P(fake) = 1 - P(real), fakes positive. */
function heldOutAuc(real: Float32Array, labels: Uint8Array): number {
  const fakeScores = (label: number) => [...real].flatMap((r, i) => (labels[i] === label ? [1 - r] : []));
  return rocAuc(fakeScores(0), fakeScores(1));
}

export async function trainHead(input: HeadTrainingInput, onEpoch: (p: EpochProgress) => void): Promise<HeadTrainingResult> {
  tf.enableProdMode(); // also silences the "install tfjs-node" banner: that package cannot be installed offline
  await tf.setBackend("cpu");
  const { dims, epochs } = input;
  const n = input.labels.length;
  const random = seededRandom(input.seed);
  const x = tf.tensor2d(input.features, [n, dims]);
  const y = tf.tensor2d(Float32Array.from(input.labels), [n, 1]);
  // Each class weighs half of the loss, however many samples it has.
  const reals = input.labels.reduce((a, l) => a + l, 0);
  const sampleWeights = tf.tensor2d(Float32Array.from(input.labels, (l) => n / (2 * (l === 1 ? reals : n - reals))), [n, 1]);
  const heldOut = tf.tensor2d(input.heldOutFeatures, [input.heldOutLabels.length, dims]);
  const w = [
    tf.variable(tf.tensor2d(input.head.w1, [dims, HEAD_UNITS])),
    tf.variable(tf.tensor1d(input.head.b1)),
    tf.variable(tf.tensor2d(input.head.w2, [HEAD_UNITS, 1])),
    tf.variable(tf.tensor1d(input.head.b2)),
  ];
  const [w1, b1, w2, b2] = w as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
  const optimizer = tf.train.adam(HEAD_TRAINING.learningRate);
  const history: EpochProgress[] = [];
  let heldOutReal = predictReal(heldOut, w);
  try {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const shuffledOrder = shuffled(order, random);
      let lossSum = 0;
      for (let start = 0; start < n; start += HEAD_TRAINING.batchSize) {
        const batch = shuffledOrder.slice(start, start + HEAD_TRAINING.batchSize);
        const seeds = [randomInt(random, 2 ** 31), randomInt(random, 2 ** 31)];
        const loss = tf.tidy(() => {
          const index = tf.tensor1d(batch, "int32");
          const [xb, yb, wb] = [tf.gather(x, index), tf.gather(y, index), tf.gather(sampleWeights, index)];
          return optimizer.minimize(() => {
            const dropped = tf.dropout(xb, HEAD_TRAINING.dropout, undefined, seeds[0]);
            const hidden = tf.leakyRelu(tf.add(tf.matMul(dropped, w1), b1), HEAD_TRAINING.leakyReluAlpha);
            const logits = tf.add(tf.matMul(tf.dropout(hidden, HEAD_TRAINING.dropout, undefined, seeds[1]), w2), b2);
            return tf.losses.sigmoidCrossEntropy(yb, logits, wb) as tf.Scalar;
          }, true, w)!;
        });
        lossSum += loss.dataSync()[0]! * batch.length;
        loss.dispose();
      }
      heldOutReal = predictReal(heldOut, w);
      const progress = { epoch, epochs, loss: lossSum / n, heldOutAuc: heldOutAuc(heldOutReal, input.heldOutLabels) };
      history.push(progress);
      onEpoch(progress);
    }
    const values = w.map((v) => v.dataSync() as Float32Array);
    return { head: { w1: values[0]!, b1: values[1]!, w2: values[2]!, b2: values[3]! }, history, heldOutReal };
  } finally {
    tf.dispose([x, y, sampleWeights, heldOut, ...w]);
    optimizer.dispose();
  }
}
