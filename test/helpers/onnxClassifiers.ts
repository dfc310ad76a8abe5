// Small ONNX face "classifiers" for the bring-your-own-model tests, written with the project's ONNX writer
// (onnx-proto, as models/mesonetGraph.ts does). Each one's output is a simple, known function of its input
// tensor - the mean of one channel plane (after the adapter's normalisation) - so a test can compute the
// expected score in JS from the pixels and prove each manifest field is honoured.
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const AttrType = onnx.AttributeProto.AttributeType;

export interface ClassifierSpec {
  inputName: string;
  layout: "nchw" | "nhwc";
  /** Static H and W; a size left out is symbolic. */
  size?: { width?: number; height?: number };
  /** The input channel (in the model's own channel order) whose mean is taken. */
  channel: number;
  /**
   * "probs": output "probs" [N,2] = [1 - sigmoid(m), sigmoid(m)]; "logit": output "score" [N,1] = m
   * (m: the channel's mean over the image).
   */
  head: "probs" | "logit";
  /** Default-domain opset (default 13). */
  opset?: number;
  /** With head "logit": the score passes through an If node whose branches read it from the outer graph. */
  throughIf?: boolean;
}

const dim = (d: number | string) => (typeof d === "string" ? { dimParam: d } : { dimValue: d });

/** Encoded ONNX bytes of a channel-mean classifier. */
export function channelMeanClassifier(spec: ClassifierSpec): Uint8Array {
  const h = spec.size?.height ?? "H";
  const w = spec.size?.width ?? "W";
  const dims = spec.layout === "nchw" ? ["N", 3, h, w] : ["N", h, w, 3];
  const channelAxis = spec.layout === "nchw" ? 1 : 3;
  const nodes: onnxProto.onnx.INodeProto[] = [
    { opType: "Gather", name: "pick_channel", input: [spec.inputName, "channel"], output: ["plane"], attribute: [{ name: "axis", type: AttrType.INT, i: channelAxis }] },
    { opType: "ReduceMean", name: "mean", input: ["plane"], output: ["m"], attribute: [{ name: "axes", type: AttrType.INTS, ints: [1, 2, 3] }, { name: "keepdims", type: AttrType.INT, i: 0 }] },
    { opType: "Reshape", name: "column", input: ["m", "column_shape"], output: spec.head === "logit" && !spec.throughIf ? ["score"] : ["m1"] },
  ];
  const initializer: onnxProto.onnx.ITensorProto[] = [
    { name: "channel", dims: [1], dataType: INT64, int64Data: [spec.channel] },
    { name: "column_shape", dims: [2], dataType: INT64, int64Data: [-1, 1] },
  ];
  if (spec.head === "logit" && spec.throughIf) {
    // then: m1 as it is; else: -m1. cond is true, so the score is m1, read by the branch from the outer scope.
    const branch = (name: string, opType: string): onnxProto.onnx.IGraphProto => ({
      name,
      node: [{ opType, name: `${name}_op`, input: ["m1"], output: [`${name}_out`] }],
      output: [{ name: `${name}_out`, type: { tensorType: { elemType: FLOAT, shape: { dim: ["N", 1].map(dim) } } } }],
    });
    nodes.push({
      opType: "If",
      name: "branch",
      input: ["cond"],
      output: ["score"],
      attribute: [
        { name: "then_branch", type: AttrType.GRAPH, g: branch("then", "Identity") },
        { name: "else_branch", type: AttrType.GRAPH, g: branch("else", "Neg") },
      ],
    });
    initializer.push({ name: "cond", dims: [], dataType: onnx.TensorProto.DataType.BOOL, int32Data: [1] });
  }
  if (spec.head === "probs") {
    nodes.push(
      { opType: "Sigmoid", name: "sigmoid", input: ["m1"], output: ["s"] },
      { opType: "Sub", name: "complement", input: ["one", "s"], output: ["not_s"] },
      { opType: "Concat", name: "probs", input: ["not_s", "s"], output: ["probs"], attribute: [{ name: "axis", type: AttrType.INT, i: 1 }] },
    );
    initializer.push({ name: "one", dims: [], dataType: FLOAT, floatData: [1] });
  }
  const outName = spec.head === "probs" ? "probs" : "score";
  const outDims = spec.head === "probs" ? ["N", 2] : ["N", 1];
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: spec.opset ?? 13 }],
    producerName: "mesoguard-test",
    graph: {
      name: "channel_mean",
      node: nodes,
      initializer,
      input: [{ name: spec.inputName, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map(dim) } } } }],
      output: [{ name: outName, type: { tensorType: { elemType: FLOAT, shape: { dim: outDims.map(dim) } } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export const IMAGENET = { mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] };

/** The expected m: the mean over the image of ((v / 255 * scale) - mean[c]) / std[c] for the model's channel. */
export function expectedChannelMean(
  rgb: Uint8Array,
  manifestInput: { channels: "rgb" | "bgr"; scale: number; mean: readonly number[]; std: readonly number[] },
  channel: number,
): number {
  const rgbChannel = manifestInput.channels === "bgr" ? 2 - channel : channel;
  let sum = 0;
  const n = rgb.length / 3;
  for (let p = 0; p < n; p++) {
    const v = Math.fround(rgb[p * 3 + rgbChannel] / 255);
    sum += (v * manifestInput.scale - manifestInput.mean[rgbChannel]) / manifestInput.std[rgbChannel];
  }
  return sum / n;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
