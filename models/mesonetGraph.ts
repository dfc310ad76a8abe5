// Builds the ONNX graph of MesoNet (Meso4 / MesoInception4, Afchar et al. 2018) from Keras weights.
//
// Faithfulness notes (each matters for matching the Keras outputs to 1e-5):
// - Every conv is Keras 'same', stride 1, with bias and ReLU; ReLU comes *before* BatchNorm.
// - 'same' with odd kernel k and dilation d is a symmetric pad of d*(k-1)/2.
// - BatchNorm epsilon is Keras's 1e-3 (some stored variances are ~1e-14).
// - Keras flattens NHWC; the graph is NCHW, so the first Dense's rows are permuted to NCHW order.
// - Layers are mapped to roles by the numeric index in their names (creation order), never by
//   their position in the file or by shape: in MesoInception two 3x3 kernels share a shape.
//
// BatchNorm is folded for inference (foldBatchNorm, the default): each BN follows ReLU and precedes MaxPool, and
// with its per-channel scale s = gamma / sqrt(var + eps) > 0 and shift t = beta - mean * s,
//   maxpool(BN(relu(conv(x)))) = maxpool(relu(conv_{s*W, s*b}(x))) + t
// (s * relu(z) = relu(s * z) for s > 0, and max commutes with x -> x + t exactly, rounding included). So the scale
// goes into the conv's weights and bias, and the shift becomes an Add on the pooled tensor (4-16x fewer values);
// the Add stays before the next conv because its zero padding does not commute with a shift. A layer with some
// s <= 0 keeps its BatchNormalization node.
//
// Meso4's 8-channel layers are laid out for ONNX Runtime's blocked CPU kernels (blockedLayout, the default). Its
// NCHWc convs and pools work on 16-channel blocks (AVX-512; 8 on AVX2): an 8-channel conv output is reordered to
// NCHW and pooled there, and a conv reading 8 channels takes the slow NCHW-input kernel. Both rewrites below compute
// the same products of the same values; only the order of the float sums may differ (tests: <= 1e-6 on P(REAL)).
// - Block 1's conv gets 8 more filters with zero weights and bias (MLAS pads its output to 16 anyway): its ReLU and
//   2x2 pool stay in NCHWc, and a Slice drops the zero channels from the pooled tensor, a quarter of the size.
// - Block 2's 5x5 conv + 2x2 pool reads the 2x2 space-to-depth of its input (32 channels): a 3x3 conv over those
//   gives the conv's value at each of the 4 pixels of every pool window (4 x 8 outputs), and the pool is the max of
//   those 4 groups. ONNX Runtime profile, one thread: block 1's reorder and pool 0.36-0.51 -> 0.29 ms (its conv stays
//   0.72 ms), block 2 1.21 -> 0.90 ms.
//   Block 3 (8 -> 16 channels at 64x64) ran slower rewritten this way (0.34 against 0.29 ms) and stays plain.
import onnxProto from "onnx-proto";
import type { Architecture } from "../src/models/manifest.js";
import type { KerasLayerWeights, KerasParamName, KerasWeights, WeightTensor } from "./kerasWeights.js";

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const OPSET_VERSION = 17;
export const IR_VERSION = 8;
export const PRODUCER_NAME = "mesoguard";
export const INPUT_NAME = "input";
export const OUTPUT_REAL = "real";
export const OUTPUT_LOGIT = "logit";
/** The flattened convolution features (NCHW order) the dense head reads. */
export const FLATTEN_OUTPUT = "flatten.out";
export const INPUT_SIZE = 256;
export const KERAS_BN_EPSILON = 1e-3;
export const LEAKY_RELU_ALPHA = 0.1;

export const META_MODEL = "mesoguard.model";
export const META_WEIGHTS_SHA256 = "mesoguard.weights_sha256";
export const META_ARCHITECTURE = "mesoguard.architecture";
export const META_OUTPUT = "mesoguard.output";
export const META_CONVERTER = "mesoguard.converter";
/**
 * The converter's version, kept in each model: a model built by another version is rebuilt. 2: BatchNorm folded.
 * 3: Meso4's blocked layout.
 */
export const CONVERTER_VERSION = "3";
export const OUTPUT_DESCRIPTION = "real = P(REAL), fake = 1 - real";

/** What goes into the model's metadata_props. */
export interface ModelInfo {
  name: string;
  architecture: Architecture;
  weightsSha256: string;
}

/** A tensor flowing through the graph: its ONNX value name, channel count and (square) spatial size. */
interface Value {
  name: string;
  channels: number;
  size: number;
}

/** Accumulates nodes and initializers; helpers below add MesoNet's building blocks to it. */
class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];

  constructor(
    readonly weights: KerasWeights,
    readonly architecture: Architecture,
    /** Fold each BatchNorm into its conv and a shift after the pool (see the notes at the top). */
    readonly foldBatchNorm: boolean,
    /** Lay Meso4's 8-channel blocks out for ONNX Runtime's NCHWc kernels (see the notes at the top). */
    readonly blockedLayout: boolean,
  ) {}

  /** An int64 initializer (shapes, Slice bounds). */
  int64Initializer(name: string, values: number[]): string {
    const bytes = new Uint8Array(values.length * 8);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytes });
    return name;
  }

  node(opType: string, name: string, inputs: string[], outputs: string[], attributes: IAttributeProto[] = []): void {
    this.nodes.push({ opType, name, input: inputs, output: outputs, attribute: attributes });
  }

  initializer(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: float32LE(data) });
    return name;
  }

  /** A layer's parameter, with its shape checked against what the role requires. */
  param(layer: string, role: string, param: KerasParamName, expectedShape: number[]): WeightTensor {
    const weights: KerasLayerWeights | undefined = this.weights.get(layer);
    if (!weights) throw new Error(`${this.architecture}: layer ${layer} (${role}) is missing from the weights file`);
    const t = weights[param];
    if (!t) throw new Error(`${this.architecture}: layer ${layer} (${role}) has no "${param}" weight`);
    if (t.shape.length !== expectedShape.length || t.shape.some((d, i) => d !== expectedShape[i])) {
      throw new Error(
        `${this.architecture}: layer ${layer} (${role}) ${param} has shape [${t.shape.join(",")}], ` +
          `expected [${expectedShape.join(",")}]`,
      );
    }
    return t;
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute and tensor encoding

const AttrType = onnx.AttributeProto.AttributeType;
const attrInt = (name: string, i: number): IAttributeProto => ({ name, type: AttrType.INT, i });
const attrInts = (name: string, ints: number[]): IAttributeProto => ({ name, type: AttrType.INTS, ints });
const attrFloat = (name: string, f: number): IAttributeProto => ({ name, type: AttrType.FLOAT, f });

/** A float tensor's raw_data (little-endian) as values. */
export function tensorFloats(t: ITensorProto): Float32Array {
  const bytes = t.rawData!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

/** Float32 values as little-endian bytes (ONNX raw_data is always little-endian). */
export function float32LE(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/**
 * Keras Conv2D(filters, k, padding='same', dilation_rate=d, activation='relu'); `scale` (one per filter, > 0): a
 * folded BatchNorm's scale, multiplied into the filter's weights and bias. `zeroFilters` more filters with zero
 * weights and bias follow the layer's own (their outputs are 0).
 */
function convRelu(
  g: GraphBuilder,
  x: Value,
  layer: string,
  role: string,
  k: number,
  filters: number,
  dilation = 1,
  scale: Float64Array | null = null,
  zeroFilters = 0,
): Value {
  const kernel = g.param(layer, role, "kernel", [k, k, x.channels, filters]);
  const bias = g.param(layer, role, "bias", [filters]);
  const s = (o: number) => (scale ? scale[o] : 1);
  // Keras kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw].
  const cin = x.channels;
  const outputs = filters + zeroFilters;
  const w = new Float32Array(outputs * cin * k * k);
  for (let ky = 0; ky < k; ky++)
    for (let kx = 0; kx < k; kx++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < filters; o++)
          w[((o * cin + i) * k + ky) * k + kx] = kernel.data[((ky * k + kx) * cin + i) * filters + o] * s(o);
  const b = new Float32Array(outputs);
  for (let o = 0; o < filters; o++) b[o] = bias.data[o] * s(o);
  const wName = g.initializer(`${layer}.kernel`, [outputs, cin, k, k], w);
  const bName = g.initializer(`${layer}.bias`, [outputs], b);
  const pad = (dilation * (k - 1)) / 2;
  const convOut = `${layer}.conv`;
  g.node("Conv", layer, [x.name, wName, bName], [convOut], [
    attrInts("kernel_shape", [k, k]),
    attrInts("strides", [1, 1]),
    attrInts("dilations", [dilation, dilation]),
    attrInts("pads", [pad, pad, pad, pad]),
    attrInt("group", 1),
  ]);
  const out = `${layer}.relu`;
  g.node("Relu", `${layer}/relu`, [convOut], [out]);
  return { name: out, channels: outputs, size: x.size };
}

/**
 * relu(conv k x k, 'same') then MaxPool 2x2 on the 2x2 space-to-depth of x (see the notes at the top): x's pixel
 * (2i + by, 2j + bx), channel c is channel (by * 2 + bx) * C + c of pixel (i, j) there. The conv's value at pixel
 * (2i + dy, 2j + dx) is output channel (dy * 2 + dx) * filters + o of a conv over that tensor whose taps (u, v) reach
 * x's rows 2(i + u) + by: tap ky of the original filter is u = floor((dy + ky) / 2), by = dy + ky - 2u. The zero
 * padding matches: a tap outside the space-to-depth tensor is one outside x.
 */
function convReluPool2SpaceToDepth(g: GraphBuilder, x: Value, layer: string, role: string, k: number, filters: number, scale: Float64Array, id: string): Value {
  const kernel = g.param(layer, role, "kernel", [k, k, x.channels, filters]);
  const bias = g.param(layer, role, "bias", [filters]);
  const cin = x.channels;
  const p = (k - 1) / 2;
  const uMin = Math.floor(-p / 2);
  const uMax = Math.floor((1 + p) / 2);
  const taps = uMax - uMin + 1;
  const [cinS, outS] = [4 * cin, 4 * filters];
  const w = new Float32Array(outS * cinS * taps * taps); // taps no original filter reaches stay 0
  for (let dy = 0; dy < 2; dy++)
    for (let dx = 0; dx < 2; dx++)
      for (let ky = -p; ky <= p; ky++)
        for (let kx = -p; kx <= p; kx++) {
          const [u, v] = [Math.floor((dy + ky) / 2), Math.floor((dx + kx) / 2)];
          const [by, bx] = [dy + ky - 2 * u, dx + kx - 2 * v];
          for (let i = 0; i < cin; i++)
            for (let o = 0; o < filters; o++) {
              const oS = (dy * 2 + dx) * filters + o;
              const iS = (by * 2 + bx) * cin + i;
              w[((oS * cinS + iS) * taps + (u - uMin)) * taps + (v - uMin)] = kernel.data[(((ky + p) * k + (kx + p)) * cin + i) * filters + o] * scale[o];
            }
        }
  const s2d = `${id}.s2d`;
  g.node("SpaceToDepth", `${id}/s2d`, [x.name], [s2d], [attrInt("blocksize", 2)]);
  const wName = g.initializer(`${layer}.kernel`, [outS, cinS, taps, taps], w);
  const bName = g.initializer(`${layer}.bias`, [outS], Float32Array.from({ length: outS }, (_, j) => bias.data[j % filters] * scale[j % filters]));
  const convOut = `${layer}.conv`;
  g.node("Conv", layer, [s2d, wName, bName], [convOut], [
    attrInts("kernel_shape", [taps, taps]),
    attrInts("strides", [1, 1]),
    attrInts("pads", [-uMin, -uMin, uMax, uMax]),
    attrInt("group", 1),
  ]);
  const relu = `${layer}.relu`;
  g.node("Relu", `${layer}/relu`, [convOut], [relu]);
  const phases = [0, 1, 2, 3].map((q) => `${id}.phase${q}`);
  g.node("Split", `${id}/phases`, [relu], phases, [attrInt("axis", 1)]);
  const out = `${id}.out`;
  g.node("Max", id, phases, [out]);
  return { name: out, channels: filters, size: x.size / 2 };
}

/** Channels [0, channels) of x. */
function firstChannels(g: GraphBuilder, x: Value, channels: number, id: string): Value {
  const out = `${id}.out`;
  const bounds = [g.int64Initializer(`${id}.starts`, [0]), g.int64Initializer(`${id}.ends`, [channels]), g.int64Initializer(`${id}.axes`, [1])];
  g.node("Slice", id, [x.name, ...bounds], [out]);
  return { name: out, channels, size: x.size };
}

/**
 * A Keras BatchNormalization layer in inference mode as BN(x) = scale * x + shift per channel (float64), when it
 * folds (every scale > 0 and folding asked for); null when it keeps its node.
 */
function foldableBatchNorm(g: GraphBuilder, layer: string, role: string, channels: number): { scale: Float64Array; shift: Float64Array } | null {
  if (!g.foldBatchNorm) return null;
  const c = [channels];
  const [gamma, beta, mean, variance] = (["gamma", "beta", "moving_mean", "moving_variance"] as const).map((p) => g.param(layer, role, p, c).data);
  const scale = Float64Array.from(gamma, (gm, i) => gm / Math.sqrt(variance[i] + KERAS_BN_EPSILON));
  if (scale.some((v) => !(v > 0))) return null;
  return { scale, shift: Float64Array.from(beta, (b, i) => b - mean[i] * scale[i]) };
}

/** x + shift per channel (a folded BatchNorm's shift, after the pool). */
function addShift(g: GraphBuilder, x: Value, layer: string, shift: Float64Array): Value {
  const t = g.initializer(`${layer}.shift`, [x.channels, 1, 1], Float32Array.from(shift));
  const out = `${layer}.out`;
  g.node("Add", `${layer}/shift`, [x.name, t], [out]);
  return { ...x, name: out };
}

/**
 * relu(conv) -> BatchNorm -> MaxPool(pool): `conv` builds the relu(conv) part with the folded scale (null: none).
 * Folded, the BatchNorm is the scale in the conv and an Add of its shift after the pool; otherwise its own node.
 */
function normPool(g: GraphBuilder, bn: string, role: string, channels: number, pool: number, id: string, conv: (scale: Float64Array | null) => Value): Value {
  const folded = foldableBatchNorm(g, bn, role, channels);
  if (folded) return addShift(g, maxPool(g, conv(folded.scale), pool, id), bn, folded.shift);
  return maxPool(g, batchNorm(g, conv(null), bn, role), pool, id);
}

/** Keras BatchNormalization() in inference mode (moving statistics, epsilon 1e-3). */
function batchNorm(g: GraphBuilder, x: Value, layer: string, role: string): Value {
  const c = [x.channels];
  const inputs = [x.name];
  for (const p of ["gamma", "beta", "moving_mean", "moving_variance"] as const) {
    inputs.push(g.initializer(`${layer}.${p}`, c, g.param(layer, role, p, c).data));
  }
  const out = `${layer}.out`;
  g.node("BatchNormalization", layer, inputs, [out], [attrFloat("epsilon", KERAS_BN_EPSILON)]);
  return { ...x, name: out };
}

/** MaxPooling2D(pool_size=k, padding='same'): at 256x256 input every pool divides exactly, so no padding. */
function maxPool(g: GraphBuilder, x: Value, k: number, id: string): Value {
  if (x.size % k !== 0) throw new Error(`${g.architecture}: ${id} ${k}x${k} on ${x.size}x${x.size} would need padding`);
  const out = `${id}.out`;
  g.node("MaxPool", id, [x.name], [out], [attrInts("kernel_shape", [k, k]), attrInts("strides", [k, k])]);
  return { name: out, channels: x.channels, size: x.size / k };
}

/**
 * MesoInception's InceptionLayer(a, b, c, d): channel concat of
 *   relu(1x1 a), relu(3x3 b (relu(1x1 b))), relu(3x3 dil 2 c (relu(1x1 c))), relu(3x3 dil 3 d (relu(1x1 d))).
 * `convs` are its 7 conv layers in Keras creation order: x1, x2 1x1, x2 3x3, x3 1x1, x3 3x3, x4 1x1, x4 3x3.
 * `scale` (a + b + c + d values, or null): a folded BatchNorm's scale, split over the branches' last convs.
 */
function inception(g: GraphBuilder, x: Value, convs: string[], widths: [number, number, number, number], id: string, scale: Float64Array | null): Value {
  const [a, b, c, d] = widths;
  const part = (from: number, n: number) => scale?.subarray(from, from + n) ?? null;
  const x1 = convRelu(g, x, convs[0], `${id} branch1 1x1`, 1, a, 1, part(0, a));
  const x2 = convRelu(g, convRelu(g, x, convs[1], `${id} branch2 1x1`, 1, b), convs[2], `${id} branch2 3x3`, 3, b, 1, part(a, b));
  const x3 = convRelu(g, convRelu(g, x, convs[3], `${id} branch3 1x1`, 1, c), convs[4], `${id} branch3 3x3 dil2`, 3, c, 2, part(a + b, c));
  const x4 = convRelu(g, convRelu(g, x, convs[5], `${id} branch4 1x1`, 1, d), convs[6], `${id} branch4 3x3 dil3`, 3, d, 3, part(a + b + c, d));
  const out = `${id}.concat`;
  g.node("Concat", `${id}/concat`, [x1.name, x2.name, x3.name, x4.name], [out], [attrInt("axis", 1)]);
  return { name: out, channels: a + b + c + d, size: x.size };
}

/**
 * The shared head: Flatten -> Dense 16 -> LeakyReLU(0.1) -> Dense 1 -> ("logit"), sigmoid -> ("real").
 * Dropout layers are training-only and omitted.
 */
function classifierHead(g: GraphBuilder, x: Value, dense1: string, dense2: string): void {
  const features = x.channels * x.size * x.size;
  const k1 = g.param(dense1, "Dense 16", "kernel", [features, 16]);
  const b1 = g.param(dense1, "Dense 16", "bias", [16]);
  const k2 = g.param(dense2, "Dense 1", "kernel", [16, 1]);
  const b2 = g.param(dense2, "Dense 1", "bias", [1]);

  // Keras flattens NHWC (index (h*W + w)*C + c); ONNX Flatten of NCHW gives c*H*W + h*W + w.
  // Move each Keras row to its NCHW position so Gemm sees the same feature in the same row.
  const { channels: C, size: S } = x;
  const w1 = new Float32Array(k1.data.length);
  for (let h = 0; h < S; h++)
    for (let w = 0; w < S; w++)
      for (let c = 0; c < C; c++) {
        const kerasRow = (h * S + w) * C + c;
        const onnxRow = c * S * S + h * S + w;
        w1.set(k1.data.subarray(kerasRow * 16, kerasRow * 16 + 16), onnxRow * 16);
      }

  g.node("Flatten", "flatten", [x.name], [FLATTEN_OUTPUT], [attrInt("axis", 1)]);
  // Gemm with B in Keras's [in, out] layout: Y = A * B + C.
  const w1Name = g.initializer(`${dense1}.kernel`, [features, 16], w1);
  const b1Name = g.initializer(`${dense1}.bias`, [16], b1.data);
  g.node("Gemm", dense1, [FLATTEN_OUTPUT, w1Name, b1Name], [`${dense1}.out`]);
  g.node("LeakyRelu", "leaky_relu", [`${dense1}.out`], ["leaky_relu.out"], [attrFloat("alpha", LEAKY_RELU_ALPHA)]);
  const w2Name = g.initializer(`${dense2}.kernel`, [16, 1], k2.data);
  const b2Name = g.initializer(`${dense2}.bias`, [1], b2.data);
  g.node("Gemm", dense2, ["leaky_relu.out", w2Name, b2Name], [OUTPUT_LOGIT]);
  g.node("Sigmoid", "sigmoid", [OUTPUT_LOGIT], [OUTPUT_REAL]);
}

// ---------------------------------------------------------------------------------------------
// Role mapping

type LayerKind = "conv2d" | "batch_normalization" | "dense";

/**
 * The names of all layers of one kind ("conv2d_5", ...), sorted by their numeric index, i.e. Keras
 * creation order. Indices can be offset (Meso4 files start at conv2d_5); the count must be exact.
 */
function layersOfKind(g: GraphBuilder, kind: LayerKind, expected: number): string[] {
  const pattern = new RegExp(`^${kind}_(\\d+)$`);
  const found = [...g.weights.keys()]
    .map((name) => ({ name, m: pattern.exec(name) }))
    .filter((e): e is { name: string; m: RegExpExecArray } => e.m !== null)
    .sort((x, y) => Number(x.m[1]) - Number(y.m[1]))
    .map((e) => e.name);
  if (found.length !== expected) {
    throw new Error(
      `${g.architecture}: expected ${expected} ${kind}_N layers, found ${found.length}` +
        ` (${found.join(", ") || "none"}); is this the right weights file for ${g.architecture}?`,
    );
  }
  return found;
}

/** Rejects weighted layers that no role accounts for (e.g. a file for some other network). */
function checkNoUnknownLayers(g: GraphBuilder): void {
  const unknown = [...g.weights.keys()].filter((n) => !/^(conv2d|batch_normalization|dense)_\d+$/.test(n));
  if (unknown.length > 0) throw new Error(`${g.architecture}: unexpected weighted layers: ${unknown.join(", ")}`);
}

// ---------------------------------------------------------------------------------------------
// Architectures

function buildMeso4(g: GraphBuilder, x: Value): Value {
  const convs = layersOfKind(g, "conv2d", 4);
  const bns = layersOfKind(g, "batch_normalization", 4);
  const blocks: Array<{ k: number; filters: number; pool: number }> = [
    { k: 3, filters: 8, pool: 2 },
    { k: 5, filters: 8, pool: 2 },
    { k: 5, filters: 16, pool: 2 },
    { k: 5, filters: 16, pool: 4 },
  ];
  blocks.forEach((b, i) => {
    const id = `block${i + 1}`;
    const role = `${id} conv ${b.k}x${b.k}`;
    const input = x;
    // Blocks 1 and 2 take the blocked layout (when their BatchNorm folds); the others normPool's plain one.
    const folded = g.blockedLayout && i < 2 ? foldableBatchNorm(g, bns[i], `${id} batchnorm`, b.filters) : null;
    if (folded && i === 0) {
      const pooled = maxPool(g, convRelu(g, input, convs[i], role, b.k, b.filters, 1, folded.scale, 16 - b.filters), b.pool, `${id}.pool`);
      x = addShift(g, firstChannels(g, pooled, b.filters, `${id}.slice`), bns[i], folded.shift);
    } else if (folded && i === 1) {
      x = addShift(g, convReluPool2SpaceToDepth(g, input, convs[i], role, b.k, b.filters, folded.scale, `${id}.pool`), bns[i], folded.shift);
    } else {
      x = normPool(g, bns[i], `${id} batchnorm`, b.filters, b.pool, `${id}.pool`, (scale) => convRelu(g, input, convs[i], role, b.k, b.filters, 1, scale));
    }
  });
  return x;
}

function buildMesoInception4(g: GraphBuilder, x: Value): Value {
  const convs = layersOfKind(g, "conv2d", 16);
  const bns = layersOfKind(g, "batch_normalization", 4);
  const x1 = normPool(g, bns[0], "inception1 batchnorm", 11, 2, "block1.pool", (scale) =>
    inception(g, x, convs.slice(0, 7), [1, 4, 4, 2], "inception1", scale),
  );
  const x2 = normPool(g, bns[1], "inception2 batchnorm", 12, 2, "block2.pool", (scale) =>
    inception(g, x1, convs.slice(7, 14), [2, 4, 4, 2], "inception2", scale),
  );
  const x3 = normPool(g, bns[2], "block3 batchnorm", 16, 2, "block3.pool", (scale) => convRelu(g, x2, convs[14], "block3 conv 5x5", 5, 16, 1, scale));
  return normPool(g, bns[3], "block4 batchnorm", 16, 4, "block4.pool", (scale) => convRelu(g, x3, convs[15], "block4 conv 5x5", 5, 16, 1, scale));
}

export const tensorType = (dims: Array<number | string>): IValueInfoProto["type"] => ({
  tensorType: {
    elemType: onnx.TensorProto.DataType.FLOAT,
    shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
  },
});

/**
 * Builds the ONNX model (opset 17, NCHW input "input" [N,3,256,256], outputs "real" and "logit" [N,1]).
 * `foldBatchNorm: false` keeps every BatchNormalization node, `blockedLayout: false` Meso4's plain layout (the tests
 * compare the graphs).
 */
export function buildMesoNetModel(weights: KerasWeights, info: ModelInfo, options: { foldBatchNorm?: boolean; blockedLayout?: boolean } = {}): ModelProto {
  const g = new GraphBuilder(weights, info.architecture, options.foldBatchNorm ?? true, options.blockedLayout ?? true);
  checkNoUnknownLayers(g);
  const input: Value = { name: INPUT_NAME, channels: 3, size: INPUT_SIZE };

  let features: Value;
  if (info.architecture === "meso4") features = buildMeso4(g, input);
  else if (info.architecture === "mesoinception4") features = buildMesoInception4(g, input);
  else throw new Error(`unknown architecture "${String(info.architecture)}"`);
  classifierHead(g, features, ...(layersOfKind(g, "dense", 2) as [string, string]));

  return onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: OPSET_VERSION }],
    producerName: PRODUCER_NAME,
    docString: `MesoNet ${info.architecture} (Afchar et al., WIFS 2018) converted from Keras weights. Input: RGB/255 NCHW.`,
    graph: {
      name: info.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [{ name: INPUT_NAME, type: tensorType(["N", 3, INPUT_SIZE, INPUT_SIZE]) }],
      output: [
        { name: OUTPUT_REAL, type: tensorType(["N", 1]) },
        { name: OUTPUT_LOGIT, type: tensorType(["N", 1]) },
      ],
    },
    metadataProps: [
      { key: META_MODEL, value: info.name },
      { key: META_WEIGHTS_SHA256, value: info.weightsSha256 },
      { key: META_ARCHITECTURE, value: info.architecture },
      { key: META_OUTPUT, value: OUTPUT_DESCRIPTION },
      { key: META_CONVERTER, value: CONVERTER_VERSION },
    ],
  });
}

/** Serialises a model to the ONNX protobuf bytes. */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Parses ONNX protobuf bytes. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** metadata_props of an encoded model as a plain object. */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of decodeModel(bytes).metadataProps) if (p.key) out[p.key] = p.value ?? "";
  return out;
}
